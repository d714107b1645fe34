import Foundation
import Testing
import DQSSCheckpoint
import DQSSRun
import _TestSupport

/// The sample checkpoint with the strings a real run carries: a config JSON and a trainer history.
func sampleWithTexts(steps: Int = 3) throws -> Checkpoint {
    var c = try sampleCheckpoint(steps: steps)
    c.config = #"{"batch":16,"lr":0.05,"model":"tiny","seed":1}"#
    c.trainer = TrainerSection(kind: "qat", arrays: [NamedArray(name: "epoch", array: .int64([2], shape: []))],
                               texts: [NamedText(name: "history", value: #"[{"epoch":1,"loss":1.2345,"top1":0.4123},{"epoch":2,"loss":0.9876,"top1":0.5234}]"#),
                                       NamedText(name: "epoch_seconds", value: "[1.5,1.25]")])
    return c
}

/// Deterministic bytes for the fuzz trials (SplitMix64).
struct FuzzRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

@Suite("Checkpoint integrity")
struct CheckpointIntegrityTests {
    @Test("a written checkpoint starts with the sealed header (DQSSCKPT, length, SHA-256), verifies, and reads back equal")
    func sealed() throws {
        let dir = TemporaryDirectory()
        let c = try sampleWithTexts()
        let url = try CheckpointWriter(directory: dir.url).write(c)
        let bytes = [UInt8](try Data(contentsOf: url))
        #expect(Array(bytes[0..<8]) == Array("DQSSCKPT".utf8))
        #expect(Array(bytes[512..<516]) == [0x89, 0x48, 0x44, 0x46])   // HDF5's superblock follows the user block
        guard case let .sealed(sha) = try CheckpointSeal.verify(url) else { Issue.record("not sealed"); return }
        #expect(sha == SHA256.hash(bytes[512...]).map { String(format: "%02x", $0) }.joined())
        let (back, status) = try CheckpointReader.readChecked(url)
        #expect(status == .sealed(sha256: sha))
        #expect(back == c)
    }

    @Test("one changed digit in the history JSON is refused (it used to resume silently with a wrong history)")
    func historyDigit() throws {
        let dir = TemporaryDirectory()
        let c = try sampleWithTexts()
        let url = try CheckpointWriter(directory: dir.url).write(c)
        var bytes = try Data(contentsOf: url)
        let at = try #require(bytes.range(of: Data("0.4123".utf8))).lowerBound
        bytes[at + 5] = UInt8(ascii: "4")
        try bytes.write(to: url)
        let e = #expect(throws: CheckpointError.self) { try CheckpointReader.read(url) }
        #expect(e?.kind == .unreadable)
        #expect(e?.description.contains(url.path) == true)
        #expect(e?.description.contains("SHA-256") == true)
    }

    @Test("8 bytes flipped near the end: read, header and --resume FILE refuse naming the file; --resume auto and inspect of the directory fall back")
    func flippedNearEnd() throws {
        let dir = TemporaryDirectory()
        let writer = try CheckpointWriter(directory: dir.url, keep: 5)
        var c = try sampleWithTexts(steps: 2)
        let previous = try writer.write(c)
        c.progress.step = 4
        let latest = try writer.write(c)
        var bytes = try Data(contentsOf: latest)
        for i in (bytes.count - 40)..<(bytes.count - 32) { bytes[i] ^= 0xFF }
        try bytes.write(to: latest)
        for read in [{ _ = try CheckpointReader.read(latest) }, { _ = try CheckpointReader.header(latest) }] {
            let e = #expect(throws: CheckpointError.self) { try read() }
            #expect(e?.kind == .unreadable && e?.file == latest.path)
        }
        let r = try CheckpointDirectory.resolve("auto", directory: dir.url)
        #expect(r.url == previous)
        #expect(r.skipped.map(\.file) == [latest.path])
    }

    @Test("--resume auto fully reads a candidate: a file whose digest is right but whose /quantization is incomplete is skipped, naming it")
    func fallbackOnDamageInside() throws {
        let dir = TemporaryDirectory()
        let writer = try CheckpointWriter(directory: dir.url, keep: 5)
        var c = try sampleWithTexts(steps: 2)
        let previous = try writer.write(c)
        c.progress.step = 4
        let latest = try writer.write(c)
        // Damage the header checks cannot see: a dataset inside /quantization removed, the seal recomputed.
        do {
            let f = try HDF5File.open(latest, writable: true)
            try f.root().group("quantization").group("layers").group("conv2").delete("beta")
            try f.close()
        }
        try CheckpointSeal.reseal(latest)
        #expect(try CheckpointReader.header(latest) == "tiny")
        let r = try CheckpointDirectory.latest(in: dir.url)
        #expect(r.url == previous)
        #expect(r.skipped.count == 1 && r.skipped[0].file == latest.path)
        #expect(r.skipped[0].description.contains("/quantization/layers/conv2/beta"))
    }

    @Test("a checkpoint holding Inf or NaN is refused before anything is written, naming the tensor; earlier checkpoints stay")
    func nonFiniteRefused() throws {
        let dir = TemporaryDirectory()
        let writer = try CheckpointWriter(directory: dir.url, keep: 5)
        var c = try sampleWithTexts(steps: 2)
        let good = try writer.write(c)
        c.progress.step = 3
        let i = try #require(c.stateDict.firstIndex { $0.name == "bn2.running_var" })
        var v = c.stateDict[i].array.float32Values!
        v[1] = .infinity
        c.stateDict[i].array = .float32(v, shape: c.stateDict[i].array.shape)
        let e = #expect(throws: CheckpointError.self) { try writer.write(c) }
        #expect(e?.kind == .nonFinite)
        #expect(e?.description.contains("/model/bn2.running_var") == true)
        #expect(e?.description.contains("ckpt-00000003.h5") == true)

        var m = try sampleWithTexts(steps: 2)
        m.progress.step = 5
        let p = try #require(m.optimizer?.state.first)
        let buffer = p.buffers[0]
        var w = buffer.array.float32Values!
        w[0] = .nan
        m.optimizer!.state[0].buffers[0].array = .float32(w, shape: buffer.array.shape)
        let e2 = #expect(throws: CheckpointError.self) { try writer.write(m) }
        #expect(e2?.description.contains("/optimizer/state/\(p.parameter)/\(buffer.name)") == true)

        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path) == [good.lastPathComponent])
        // NaN thresholds mean "this candidate has none" and are not refused.
        var t = try sampleWithTexts(steps: 2)
        t.progress.step = 6
        t.quantization!.layers[0].activationThresholds[0] = .nan
        #expect(throws: Never.self) { try writer.write(t) }
    }

    @Test("a checkpoint written by dqss before the seal (no user block) is still read, reported as legacy")
    func legacy() throws {
        let dir = TemporaryDirectory()
        let c = try sampleWithTexts()
        let url = dir.file("ckpt-00000003.h5")
        try CheckpointWriter.writeUnsealed(c, to: url)
        #expect(try CheckpointSeal.verify(url) == .legacy)
        let (back, status) = try CheckpointReader.readChecked(url)
        #expect(status == .legacy && back == c)
    }

    @Test("fuzz: 300 damaged copies (fixed seed) each give a CheckpointError or the original content, never a crash or a silent difference")
    func fuzz() throws {
        let dir = TemporaryDirectory()
        let c = try sampleWithTexts()
        let url = try CheckpointWriter(directory: dir.url).write(c)
        let original = [UInt8](try Data(contentsOf: url))
        let damaged = dir.file("damaged.h5")
        let digest = CheckpointDigest.of(c)
        var random = FuzzRandom(state: 16)
        var refused = 0, unchanged = 0
        for trial in 0..<300 {
            var bytes = original
            switch trial % 4 {
            case 0:   // one bit anywhere
                bytes[random.below(bytes.count)] ^= UInt8(1 << random.below(8))
            case 1:   // 8 random bytes near the end (the issue's report)
                let at = bytes.count - 1 - random.below(min(4096, bytes.count - 8)) - 7
                for i in at..<(at + 8) { bytes[i] = UInt8(truncatingIfNeeded: random.next()) }
            case 2:   // 1..8 random bytes anywhere, header included
                let at = random.below(bytes.count - 8)
                for i in at..<(at + 1 + random.below(8)) { bytes[i] = UInt8(truncatingIfNeeded: random.next()) }
            default:  // truncated or extended
                if random.below(2) == 0 { bytes.removeLast(1 + random.below(bytes.count - 1)) } else { bytes += [0, 1, 2] }
            }
            try Data(bytes).write(to: damaged)
            do {
                let back = try CheckpointReader.read(damaged)
                unchanged += 1
                #expect(bytes == original, "trial \(trial): damaged bytes were read without an error")
                #expect(back == c && CheckpointDigest.of(back) == digest && back.config == c.config
                        && back.trainer?.text("history") == c.trainer?.text("history"), "trial \(trial): silent difference")
            } catch let e as CheckpointError {
                refused += 1
                #expect(e.file == damaged.path && e.kind == .unreadable, "trial \(trial): \(e)")
            } catch {
                Issue.record("trial \(trial): not a CheckpointError: \(error)")
            }
        }
        #expect(refused + unchanged == 300)
        #expect(refused >= 290, "only \(refused) of 300 damaged files refused")
    }
}
