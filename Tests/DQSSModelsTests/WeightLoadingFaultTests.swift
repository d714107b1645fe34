// Bad weights files must give a clear error naming the file and tensor, never a trap or a silently
// wrong model (issue 16, items 1 and 14): NaN/Inf values, an integer dtype where a float parameter is
// expected, a path that is not a regular file, and a fuzz over random byte flips in a real file.

import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels

@Suite("Weight loading: damaged and hostile files")
struct WeightLoadingFaultTests {
    let helper = WeightLoadingTests()

    /// All parameter and buffer values of `model`, flattened, in its own order.
    func values(_ model: any Layer) -> [[Float]] {
        model.namedParameters().map(\.parameter.value.array) + model.namedBuffers().map(\.tensor.array)
    }

    /// A ResNet-20 weights file with `value` stored as element `index` of float32 tensor `name`.
    func checkpoint(with value: Float, at index: Int, of name: String) throws -> URL {
        try helper.writeCheckpoint { entries in
            let i = entries.firstIndex { $0.name == name }!
            var bytes = entries[i].bytes
            bytes.withUnsafeMutableBytes { $0.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * index, as: UInt32.self) }
            entries[i] = .init(name: entries[i].name, dtype: .f32, shape: entries[i].shape, bytes: bytes)
        }.0
    }

    @Test("a NaN in a weight is refused at load, naming the file and the tensor, and the model is untouched")
    func nanWeightRefused() throws {
        let url = try checkpoint(with: .nan, at: 10, of: "module.layer2.0.conv1.weight")
        defer { try? FileManager.default.removeItem(at: url) }
        let model = try ModelZoo.spec(named: "resnet20").make(seed: 3)
        let before = values(model)
        let error = try #require(throws: DQSSDataError.self) { try loadWeights(into: model, from: url) }
        let message = "\(error)"
        #expect(message.contains(url.lastPathComponent), "\(message)")
        #expect(message.contains("module.layer2.0.conv1.weight"), "\(message)")
        #expect(message.contains("NaN or Inf"), "\(message)")
        #expect(message.contains("flat index 10"), "\(message)")
        #expect(values(model) == before, "a refused load must not change the model")
    }

    @Test("an Inf in a BatchNorm running variance is refused (buffers are checked too)")
    func infBufferRefused() throws {
        let url = try checkpoint(with: .infinity, at: 0, of: "module.bn1.running_var")
        defer { try? FileManager.default.removeItem(at: url) }
        let e = try #require(helper.loadError(url))
        #expect(e.contains("module.bn1.running_var") && e.contains("NaN or Inf"), "\(e)")
    }

    @Test("a float parameter stored with an integer dtype (I32, I64) is refused, naming the tensor and dtype")
    func integerDTypeRefused() throws {
        for dtype in [SafetensorsDType.i32, .i64] {
            let (url, _) = try helper.writeCheckpoint { entries in
                let i = entries.firstIndex { $0.name == "module.linear.weight" }!
                let n = entries[i].shape.reduce(1, *)
                let bytes = Data(count: n * dtype.size)   // zeros: a plausible-looking but wrong file
                entries[i] = .init(name: entries[i].name, dtype: dtype, shape: entries[i].shape, bytes: bytes)
            }
            defer { try? FileManager.default.removeItem(at: url) }
            let e = try #require(helper.loadError(url))
            #expect(e.contains("linear.weight (\(dtype.rawValue))") && e.contains("integer/bool dtype") && e.contains(url.lastPathComponent), "\(e)")
        }
    }

    @Test("/dev/null, a directory and a FIFO as weights say what they are, without blocking")
    func notARegularFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("weights.safetensors")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        for (path, what) in [("/dev/null", "a character device"), (dir.path, "a directory"), (fifo.path, "a FIFO")] {
            let e = try #require(helper.loadError(URL(fileURLWithPath: path)))
            #expect(e.contains(what) && e.contains("not a safetensors file"), "\(path): \(e)")
        }
        let missing = try #require(helper.loadError(dir.appendingPathComponent("absent.safetensors")))
        #expect(missing.contains("absent.safetensors"), "\(missing)")
    }

    /// The file fuzzed: the real pretrained ResNet-20 when ../shared is there, else a generated one of
    /// the same layout (module. prefix, int64 counters).
    func fuzzSource() throws -> (url: URL, temporary: Bool) {
        let real = sharedDatasets.appendingPathComponent("models/cifar10/akamaster_resnet20.safetensors")
        if FileManager.default.fileExists(atPath: real.path) { return (real, false) }
        return (try helper.writeCheckpoint().0, true)
    }

    @Test("fuzz: 300 files with 1-8 random bytes flipped (fixed seed) each give a clear error or exactly the file's values — never a crash, and never a header change that loads silently")
    func randomByteFlips() throws {
        let source = try fuzzSource()
        defer { if source.temporary { try? FileManager.default.removeItem(at: source.url) } }
        let original = try Data(contentsOf: source.url)
        let headerEnd = 8 + Int(original.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        let reference = try ModelZoo.spec(named: "resnet20").make(seed: 0)
        try loadWeights(into: reference, from: source.url)
        let expected = values(reference)
        // Byte offset of every loaded value in the data area, to know which values a flip may change.
        let file = try SafetensorsFile(contentsOf: source.url)
        let names = reference.namedParameters().map(\.name) + reference.namedBuffers().map(\.name)
        let ranges: [Range<Int>?] = names.map { file.info(named: "module." + $0)?.byteRange }

        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-fuzz-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        var rng = RNG(seed: 2026)
        var refused = 0, loadedExact = 0, loadedDataFlip = 0
        for trial in 0..<300 {
            var bytes = original
            var flipped: [Int] = []
            for _ in 0..<(1 + Int(rng.next() % 8)) {
                // Half the trials aim at the 8-byte length and the JSON header, where parsing can go wrong.
                let limit = trial % 2 == 0 ? headerEnd : bytes.count
                let at = Int(rng.next() % UInt64(limit))
                bytes[at] ^= UInt8(1 + rng.next() % 255)
                flipped.append(at)
            }
            try bytes.write(to: url)
            let model = try ModelZoo.spec(named: "resnet20").make(seed: 0)
            do {
                try loadWeights(into: model, from: url)
            } catch is DQSSDataError {
                refused += 1
                continue
            }
            // Loaded: every value must be the file's. Values whose bytes were not flipped equal the
            // original; a flip inside the header must not have loaded at all unless it left it equivalent.
            let got = values(model)
            let dataFlips = flipped.filter { $0 >= headerEnd }.map { $0 - headerEnd }
            var changedOutsideFlips = false
            for (k, (g, e)) in zip(got, expected).enumerated() where g != e {
                guard let r = k < ranges.count ? ranges[k] : nil else { changedOutsideFlips = true; break }
                for i in 0..<g.count where g[i] != e[i] {
                    let at = r.lowerBound + 4 * i
                    if !dataFlips.contains(where: { $0 >= at && $0 < at + 4 }) { changedOutsideFlips = true }
                }
            }
            #expect(!changedOutsideFlips, "trial \(trial): flips at \(flipped) changed values they do not touch")
            #expect(got.allSatisfy { $0.allSatisfy(\.isFinite) }, "trial \(trial): non-finite values loaded")
            if got == expected { loadedExact += 1 } else { loadedDataFlip += 1 }
        }
        print("weights fuzz: \(refused) refused, \(loadedExact) loaded identical, \(loadedDataFlip) loaded with only the flipped values changed (safetensors has no checksum)")
        #expect(refused > 100, "header damage must be refused: only \(refused) of 300")
    }
}
