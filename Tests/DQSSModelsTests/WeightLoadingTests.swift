import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels

/// Strict loading: a checkpoint that does not match the model exactly is refused with one error that
/// names the file and each offending tensor, before any value is copied.
@Suite("Weight loading")
struct WeightLoadingTests {
    /// A ResNet-20 state_dict (with akamaster's "module." prefix and int64 num_batches_tracked),
    /// optionally edited, written to a fresh temporary file.
    func writeCheckpoint(_ edit: (inout [SafetensorsWriter.Entry]) -> Void = { _ in }) throws -> (URL, any UnaryLayer) {
        let source = try ModelZoo.spec(named: "resnet20").make(seed: 9)
        var rng = RNG(seed: 10)
        randomizeBatchNorms(source, rng: &rng)
        var entries: [SafetensorsWriter.Entry] = source.namedParameters().map {
            .float32("module." + $0.name, $0.parameter.value)
        }
        for b in source.namedBuffers() {
            if b.name.hasSuffix("num_batches_tracked") {
                entries.append(.int64("module." + b.name, shape: [], [Int64(123)]))
            } else {
                entries.append(.float32("module." + b.name, b.tensor))
            }
        }
        edit(&entries)
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("dqss-weights-\(UUID().uuidString).safetensors")
        try SafetensorsWriter.write(entries: entries, to: url)
        return (url, source)
    }

    func loadError(_ url: URL) -> String? {
        do {
            _ = try ModelZoo.spec(named: "resnet20").load(weights: url)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("a complete checkpoint loads every parameter and buffer exactly")
    func roundTrip() throws {
        let (url, source) = try writeCheckpoint()
        defer { try? FileManager.default.removeItem(at: url) }
        let model = try ModelZoo.spec(named: "resnet20").load(weights: url)
        let a = source.namedParameters().map(\.parameter.value) + source.namedBuffers().map(\.tensor)
        let b = model.namedParameters().map(\.parameter.value) + model.namedBuffers().map(\.tensor)
        #expect(a.count == b.count)
        var checked = 0
        for (x, y) in zip(a, b) where x.shape != [] {
            #expect(x.array == y.array)
            checked += 1
        }
        #expect(checked > 60)
    }

    @Test("a missing tensor is named in the error")
    func missing() throws {
        let (url, _) = try writeCheckpoint { $0.removeAll { $0.name == "module.layer2.1.bn1.running_var" } }
        defer { try? FileManager.default.removeItem(at: url) }
        let e = try #require(loadError(url))
        #expect(e.contains("missing"))
        #expect(e.contains("layer2.1.bn1.running_var"))
        #expect(e.contains(url.lastPathComponent))
    }

    @Test("an unexpected extra tensor is named in the error")
    func unexpected() throws {
        let (url, _) = try writeCheckpoint { $0.append(.float32("module.layer4.0.conv1.weight", Tensor(shape: [2, 2]))) }
        defer { try? FileManager.default.removeItem(at: url) }
        let e = try #require(loadError(url))
        #expect(e.contains("unexpected"))
        #expect(e.contains("layer4.0.conv1.weight"))
    }

    @Test("a wrong-shape tensor is named with both shapes")
    func wrongShape() throws {
        let (url, _) = try writeCheckpoint { entries in
            let i = entries.firstIndex { $0.name == "module.linear.weight" }!
            entries[i] = .float32("module.linear.weight", Tensor(shape: [10, 32]))
        }
        defer { try? FileManager.default.removeItem(at: url) }
        let e = try #require(loadError(url))
        #expect(e.contains("linear.weight"))
        #expect(e.contains("[10, 32]"))
        #expect(e.contains("[10, 64]"))
    }

    @Test("a truncated file is refused with an error naming it, not a crash")
    func truncated() throws {
        let (url, _) = try writeCheckpoint()
        defer { try? FileManager.default.removeItem(at: url) }
        let data = try Data(contentsOf: url)
        try data.prefix(data.count - 1000).write(to: url)
        let e = try #require(loadError(url))
        #expect(e.contains(url.lastPathComponent))
        let tiny = url.deletingLastPathComponent().appendingPathComponent("dqss-tiny-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: tiny) }
        try data.prefix(5).write(to: tiny)
        #expect(loadError(tiny) != nil)
    }

    @Test("the manifest next to the weights overrides the default normalisation")
    func manifestNormalization() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-norm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let weights = dir.appendingPathComponent("m.safetensors")
        let spec = try ModelZoo.spec(named: "shufflenetv2_x0_5")
        let (d, dSource) = try spec.normalization(forWeights: weights)
        #expect(d == .cifar10)
        #expect(dSource.contains("default"))
        try Data(#"{"input": {"mean": [0.5, 0.25, 0.125], "std": [2, 4, 8]}}"#.utf8)
            .write(to: dir.appendingPathComponent("m.json"))
        let (n, source) = try spec.normalization(forWeights: weights)
        #expect(n.mean == [0.5, 0.25, 0.125])
        #expect(n.std == [2, 4, 8])
        #expect(source.contains("m.json"))
        try Data(#"{"input": {"mean": [0.5], "std": [2, 4, 8]}}"#.utf8).write(to: dir.appendingPathComponent("m.json"))
        #expect(throws: ModelError.self) { try spec.normalization(forWeights: weights) }
        try Data("not json".utf8).write(to: dir.appendingPathComponent("m.json"))
        #expect(throws: ModelError.self) { try spec.normalization(forWeights: weights) }
    }
}
