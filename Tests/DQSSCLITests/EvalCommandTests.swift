import Foundation
import Testing

/// `dqss eval` end to end: the executable next to this test bundle, on the shared CIFAR-10 data.
/// Skipped when ../shared/datasets or the built executable is absent.
@Suite("dqss eval", .enabled(if: cifarCLITestsReady, "skipped: ../shared/datasets or the built dqss executable not found"))
struct EvalCommandTests {
    static let datasets = sharedDatasets

    static func weights(_ name: String) -> String { sharedWeights(name) }

    func dqss(_ arguments: [String]) throws -> (Int32, String, String) { try runDQSS(arguments) }

    @Test("--json prints one JSON object with model, top1 (percent), correct, total; progress on stderr")
    func json() throws {
        let (status, out, err) = try dqss(["eval", "--model", "resnet20", "--weights", Self.weights("akamaster_resnet20"),
                                           "--data", Self.datasets.appendingPathComponent("cifar10").path,
                                           "--limit", "100", "--eval-batch", "50", "--json"])
        #expect(status == 0, "\(err)")
        let lines = out.split(separator: "\n")
        #expect(lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        #expect(object["model"] as? String == "resnet20")
        #expect(object["split"] as? String == "test")
        let correct = try #require(object["correct"] as? Int), total = try #require(object["total"] as? Int)
        #expect(total == 100)
        #expect(correct > 80 && correct <= 100)   // 91.6 % on the 932 images
        let top1 = try #require(object["top1"] as? Double)
        #expect(abs(top1 - Double(correct)) < 1e-9)   // percent of 100 images
        let norm = try #require(object["normalization"] as? [String: Any])
        #expect((norm["source"] as? String)?.hasPrefix("manifest") == true)
        #expect(err.contains("normalisation: mean"))
        #expect(err.contains("100/100 images"))
        #expect(err.contains("images/s"))
    }

    @Test("a checkpoint of another architecture is refused with the offending tensors, nothing on stdout")
    func wrongWeights() throws {
        let (status, out, err) = try dqss(["eval", "--model", "resnet20", "--weights", Self.weights("akamaster_resnet32"),
                                           "--data", Self.datasets.appendingPathComponent("cifar10").path, "--json"])
        #expect(status != 0)
        #expect(out.isEmpty)
        #expect(err.contains("akamaster_resnet32.safetensors"))
        #expect(err.contains("unexpected"))
        #expect(err.contains("layer1.3.conv1.weight"))
    }

    @Test("an unknown model name lists the known ones")
    func unknownModel() throws {
        let (status, _, err) = try dqss(["eval", "--model", "resnet19", "--weights", "x", "--data", "y"])
        #expect(status != 0)
        #expect(err.contains("resnet20") && err.contains("shufflenet_v2_x1_0"))
    }
}
