import Foundation
import Testing
import DQSSTensor
import DQSSCheckpoint
import DQSSQuant
import DQSSRun
import _TestSupport

/// A checkpoint of a few steps of the tiny mixed-quantized run (every section filled).
func sampleCheckpoint(steps: Int = 5) throws -> Checkpoint {
    let run = try TinyMixedRun(config: TinyMixedConfig(steps: 20))
    for _ in 0..<steps { run.trainStep() }
    return try run.checkpoint(commandLine: "dqss checkpoint-drill --steps 20")
}

@Suite("Checkpoint files")
struct CheckpointFileTests {
    @Test("a checkpoint reads back equal to what was written: every section, names in module order")
    func roundTrip() throws {
        let dir = TemporaryDirectory()
        let c = try sampleCheckpoint()
        // conv1-3 and fc weights, fc bias, BN weight/bias; then BN running_mean/running_var/num_batches_tracked.
        #expect(c.stateDict.count == 4 + 1 + 3 * 2 + 3 * 3)
        #expect(c.stateDict.first?.name == "conv1.weight")
        #expect(c.optimizer?.state.count == c.optimizer?.groups.reduce(0) { $0 + $1.parameterNames.count })
        let url = try CheckpointWriter(directory: dir.url, keep: 2).write(c)
        #expect(url.lastPathComponent == "ckpt-00000005.h5")
        let back = try CheckpointReader.read(url)
        #expect(back == c)
        #expect(CheckpointDigest.of(back) == CheckpointDigest.of(c))
        #expect(back.quantization?.layers.map(\.name) == ["conv1", "conv2", "conv3", "fc"])
        #expect(try CheckpointReader.header(url) == "tiny")
    }

    @Test("per-channel weight thresholds (--weight-granularity channel) read back bit for bit, one row per candidate, and are in the digest")
    func channelThresholdsRoundTrip() throws {
        let dir = TemporaryDirectory()
        var c = try sampleCheckpoint(steps: 1)
        var q = try #require(c.quantization)
        let candidates = q.candidates.count
        let plain = CheckpointDigest.of(c)
        // conv1: 3 output channels' thresholds per candidate, with values that need every bit.
        q.layers[0].weightChannelThresholds = (0..<candidates).map { k in (0..<3).map { Float(k + 1) / 3 + Float($0) * 1e-7 } }
        c.quantization = q
        #expect(CheckpointDigest.of(c) != plain)
        let url = try CheckpointWriter(directory: dir.url, keep: 2).write(c)
        let back = try CheckpointReader.read(url)
        #expect(back == c)
        #expect(back.quantization?.layers[0].weightChannelThresholds?.map { $0.map(\.bitPattern) }
                == q.layers[0].weightChannelThresholds?.map { $0.map(\.bitPattern) })
        #expect(back.quantization?.layers[1].weightChannelThresholds == nil)
    }

    @Test("AdaRound rounding masks read back bit for bit (one per rounded candidate, nearest ones absent) and are in the digest")
    func weightRoundingRoundTrip() throws {
        let dir = TemporaryDirectory()
        var c = try sampleCheckpoint(steps: 1)
        var q = try #require(c.quantization)
        let plain = CheckpointDigest.of(c)
        // 70 weights: a mask that spans two 64-bit words; the first candidate rounds to nearest.
        let mask = WeightRounding(up: (0..<70).map { UInt8(($0 * 7 + 3) % 5 < 2 ? 1 : 0) })
        q.layers[1].weightRoundings = [nil] + Array(repeating: mask, count: q.candidates.count - 1)
        c.quantization = q
        #expect(CheckpointDigest.of(c) != plain)
        let url = try CheckpointWriter(directory: dir.url, keep: 2).write(c)
        let back = try CheckpointReader.read(url)
        #expect(back == c)
        #expect(back.quantization?.layers[1].weightRoundings?.first! == nil)
        #expect(back.quantization?.layers[1].weightRoundings?.last! == mask)
        #expect(back.quantization?.layers[0].weightRoundings == nil)
    }

    @Test("the writer keeps the newest M, leaves no temporary file, and clears stale ones")
    func keepLastM() throws {
        let dir = TemporaryDirectory()
        try Data("partial".utf8).write(to: dir.file(".ckpt-00000003.h5.tmp"))
        let writer = try CheckpointWriter(directory: dir.url, keep: 2)
        #expect(!FileManager.default.fileExists(atPath: dir.file(".ckpt-00000003.h5.tmp").path))
        var c = try sampleCheckpoint(steps: 1)
        for step in [4, 8, 12] {
            c.progress.step = step
            try writer.write(c)
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.url.path).sorted()
        #expect(names == ["ckpt-00000008.h5", "ckpt-00000012.h5"])
        #expect(try CheckpointDirectory.latest(in: dir.url).url.lastPathComponent == "ckpt-00000012.h5")
        // A run resumed from an older file keeps its own newest checkpoint.
        c.progress.step = 5
        try writer.write(c)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path).sorted() == ["ckpt-00000005.h5", "ckpt-00000012.h5"])
    }

    @Test("a write that fails part-way leaves the previous checkpoint as the latest and no temporary file")
    func failedWriteKeepsPrevious() throws {
        let dir = TemporaryDirectory()
        let writer = try CheckpointWriter(directory: dir.url, keep: 3)
        var c = try sampleCheckpoint(steps: 2)
        let good = try writer.write(c)
        c.progress.step = 3
        c.stateDict.append(NamedArray(name: "bad/name", array: .float32([1])))   // HDF5 refuses it mid-file
        let e = #expect(throws: CheckpointError.self) { try writer.write(c) }
        #expect(e?.kind == .writeFailed)
        #expect(e?.description.contains("ckpt-00000003.h5") == true)
        #expect(e?.description.contains("bad/name") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path) == [good.lastPathComponent])
        #expect(try CheckpointDirectory.latest(in: dir.url).url == good)
        #expect(try CheckpointReader.read(good).progress.step == 2)
    }

    @Test("truncated and corrupted files: clear errors naming the file; --resume auto falls back to the previous one")
    func truncatedAndCorrupt() throws {
        let dir = TemporaryDirectory()
        let writer = try CheckpointWriter(directory: dir.url, keep: 5)
        var c = try sampleCheckpoint(steps: 2)
        let previous = try writer.write(c)
        c.progress.step = 4
        let latest = try writer.write(c)
        let bytes = try Data(contentsOf: latest)

        try bytes.prefix(bytes.count * 2 / 3).write(to: latest)   // truncated
        let t = #expect(throws: CheckpointError.self) { try CheckpointReader.read(latest) }
        #expect(t?.kind == .unreadable)
        #expect(t?.description.contains(latest.path) == true)
        let resolved = try CheckpointDirectory.resolve("auto", directory: dir.url)
        #expect(resolved.url == previous)
        #expect(resolved.skipped.count == 1 && resolved.skipped[0].file == latest.path)
        #expect(try CheckpointReader.read(previous).progress.step == 2)

        // One flipped bit in a weight (found by its bytes): the whole-file SHA-256 catches it before HDF5 reads.
        var corrupt = bytes
        let w = c.stateDict.first { $0.name == "conv3.weight" }!.array.float32Values!
        let at = try #require(corrupt.range(of: w.withUnsafeBytes { Data($0) })).lowerBound
        corrupt[at + 17] ^= 0x10
        try corrupt.write(to: latest)
        let k = #expect(throws: CheckpointError.self) { try CheckpointReader.read(latest) }
        #expect(k?.kind == .unreadable)
        #expect(k?.description.contains(latest.path) == true && k?.description.contains("SHA-256") == true)

        // Garbage over the dqss header, then over the HDF5 superblock after it.
        var header = bytes
        header.replaceSubrange(0..<64, with: Data(repeating: 0xAB, count: 64))
        try header.write(to: latest)
        let g = #expect(throws: CheckpointError.self) { try CheckpointReader.read(latest) }
        #expect(g?.description.contains("neither the dqss header") == true)
        var superblock = bytes
        superblock.replaceSubrange(512..<576, with: Data(repeating: 0xAB, count: 64))
        try superblock.write(to: latest)
        let h = #expect(throws: CheckpointError.self) { try CheckpointReader.read(latest) }
        #expect(h?.description.contains("SHA-256") == true)
        #expect(try CheckpointReader.read(previous).progress.step == 2)
    }

    @Test("a missing dataset inside is named: quantizer logits, optimizer buffer, state_dict entry")
    func missingDataset() throws {
        let dir = TemporaryDirectory()
        let c = try sampleCheckpoint(steps: 3)
        let writer = try CheckpointWriter(directory: dir.url, keep: 5)
        func damaged(_ step: Int, _ edit: (HDF5Group) throws -> Void) throws -> URL {
            var d = c
            d.progress.step = step
            let url = try writer.write(d)
            let f = try HDF5File.open(url, writable: true)
            try edit(try f.root())
            try f.close()
            try CheckpointSeal.reseal(url)   // damage behind a valid seal: what the layout checks must catch
            return url
        }
        let noAlpha = try damaged(10) { try $0.group("quantization").group("layers").group("conv2").delete("alpha") }
        let e1 = #expect(throws: CheckpointError.self) { try CheckpointReader.read(noAlpha) }
        #expect(e1?.description.contains("/quantization/layers/conv2/alpha") == true)
        #expect(e1?.description.contains("missing dataset") == true)

        let noMomentum = try damaged(11) { try $0.group("optimizer").group("state").group("fc.weight").delete("momentum_buffer") }
        let back = try CheckpointReader.read(noMomentum)
        let run = try TinyMixedRun(config: TinyMixedConfig(steps: 20))
        let e2 = #expect(throws: CheckpointError.self) {
            try back.optimizer!.restore(into: run.sgd, names: run.names, file: noMomentum.path)
        }
        #expect(e2?.description.contains("/optimizer/state/fc.weight/momentum_buffer") == true)

        let noWeight = try damaged(12) { try $0.group("model").delete("bn2.running_var") }
        let e3 = #expect(throws: CheckpointError.self) {
            try CheckpointReader.read(noWeight).restoreStateDict(into: run.model, file: noWeight.path)
        }
        #expect(e3?.kind == .mismatch)
        #expect(e3?.description.contains("missing in the checkpoint: bn2.running_var") == true)
    }

    @Test("not a dqss checkpoint, another format version, another model or candidate set: refused with the reason")
    func refusesOtherRuns() throws {
        let dir = TemporaryDirectory()
        let plain = dir.file("plain.h5")
        do { let f = try HDF5File.create(plain); try f.root().write("x", .float32([1])); try f.close() }
        let p = #expect(throws: CheckpointError.self) { try CheckpointReader.read(plain) }
        #expect(p?.kind == .notACheckpoint)

        let c = try sampleCheckpoint(steps: 1)
        let url = try CheckpointWriter(directory: dir.url).write(c)
        do { let f = try HDF5File.open(url, writable: true); try f.root().setAttribute("format_version", Int64(99)); try f.close(); try CheckpointSeal.reseal(url) }
        let v = #expect(throws: CheckpointError.self) { try CheckpointReader.read(url) }
        #expect(v?.kind == .unsupportedVersion)
        #expect(v?.description.contains("version 99") == true)

        let m = #expect(throws: CheckpointError.self) {
            try c.requireCompatible(with: CheckpointExpectation(model: "resnet20"), file: "x.h5")
        }
        #expect(m?.description == "checkpoint x.h5: cannot resume: it is a checkpoint of model 'tiny', this run is 'resnet20'")
        let k = #expect(throws: CheckpointError.self) {
            try c.requireCompatible(with: CheckpointExpectation(model: "tiny", candidates: ["Max_Abs", "KL"]), file: "x.h5")
        }
        #expect(k?.description.contains("candidates are [\"wide\", \"narrow\"]") == true)
        let b = #expect(throws: CheckpointError.self) {
            try c.requireCompatible(with: CheckpointExpectation(model: "tiny", layerBits: [("conv1", 4, 4), ("conv2", 4, 4), ("conv3", 8, 4), ("fc", 4, 4)]), file: "x.h5")
        }
        #expect(b?.description.contains("layer 'conv3' uses W4A4, this run W8A4") == true)
        let g = #expect(throws: CheckpointError.self) {
            try c.requireCompatible(with: CheckpointExpectation(model: "tiny", globalBatch: 32), file: "x.h5")
        }
        #expect(g?.description.contains("global batch was 16") == true)

        // The state_dict of a wider TinyConvNet does not fit.
        var wide = c
        wide.stateDict[0].array = .float32([Float](repeating: 0, count: 8 * 3 * 9), shape: [8, 3, 3, 3])
        let run = try TinyMixedRun(config: TinyMixedConfig(steps: 20))
        let s = #expect(throws: CheckpointError.self) { try wide.restoreStateDict(into: run.model, file: "x.h5") }
        #expect(s?.description.contains("'conv1.weight' has shape [8, 3, 3, 3] in the checkpoint") == true)
    }
}
