// CheckpointDigest: a 64-bit FNV-1a digest of a checkpoint's numeric state (weights, buffers, quantizer
// thresholds and logits, optimizer buffers and settings, RNG states, progress) — not of its command line,
// config or creation time. Two runs that must agree bit for bit must print the same digest.

public enum CheckpointDigest {
    public static func of(_ c: Checkpoint) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func byte(_ b: UInt8) { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        func word(_ w: UInt64) { for i in 0..<8 { byte(UInt8(truncatingIfNeeded: w >> (8 * UInt64(i)))) } }
        func text(_ s: String) { s.utf8.forEach(byte); byte(0) }
        func array(_ a: HDF5Array) {
            a.shape.forEach { word(UInt64($0)) }
            switch a.values {
            case let .float32(v): v.forEach { word(UInt64($0.bitPattern)) }
            case let .float64(v): v.forEach { word($0.bitPattern) }
            case let .int64(v): v.forEach { word(UInt64(bitPattern: $0)) }
            case let .uint64(v): v.forEach(word)
            }
        }
        text(c.model)
        [c.progress.epoch, c.progress.step, c.progress.dataCursor, c.progress.globalBatch].forEach { word(UInt64($0)) }
        for s in c.rngStates { text(s.name); s.state.forEach(word) }
        for t in c.stateDict { text(t.name); array(t.array) }
        if let q = c.quantization {
            q.candidates.forEach(text)
            word(q.temperature.bitPattern)
            for l in q.layers {
                text(l.name); text(l.activationAssignment); text(l.weightAssignment)
                for v in l.activationThresholds + l.weightThresholds + l.alpha + l.beta { word(UInt64(v.bitPattern)) }
                // Per-channel T_w only when present, so per-tensor checkpoints keep their digests.
                for v in (l.weightChannelThresholds ?? []).flatMap({ $0 }) { word(UInt64(v.bitPattern)) }
                // AdaRound's masks only when present (as above).
                for r in l.weightRoundings ?? [] {
                    word(UInt64(r?.count ?? 0))
                    r.map { WeightRoundingWords.pack($0).forEach(word) }
                }
                for p in l.parameters { text(p.name); array(p.array) }
            }
        }
        if let o = c.optimizer {
            text(o.kind); word(o.scheduleTime.bitPattern)
            for g in o.groups {
                text(g.name)
                for v in [g.lr, g.baseLR, g.momentum, g.weightDecay] { word(UInt64(v.bitPattern)) }
                g.parameterNames.forEach(text)
            }
            for s in o.state { text(s.parameter); for b in s.buffers { text(b.name); array(b.array) } }
        }
        if let t = c.trainer {
            text(t.kind)
            for a in t.arrays { text(a.name); array(a.array) }
        }
        return String(h, radix: 16)
    }
}
