// `--weight-granularity channel` through the real commands on CIFAR-10 (issue 20): `dqss ptq` writes one
// weight threshold per output channel, the per-channel network is evaluated, and `dqss export` writes
// per-axis QDQ that ONNX Runtime runs like dqss.

import Foundation
import Testing

@Suite("dqss ptq --weight-granularity", .serialized,
       .enabled(if: cifarCLITestsReady, "skipped: ../shared/datasets or the built dqss executable not found"))
struct WeightGranularityCommandTests {
    let data = sharedDatasets.appendingPathComponent("cifar10").path
    var common: [String] {
        ["ptq", "--model", "resnet20", "--weights", sharedWeights("akamaster_resnet20"), "--data", data, "--split", "test",
         "--method", "maxabs", "--weight-bits", "4", "--act-bits", "8", "--calib", "32", "--json"]
    }

    @Test("W4A8 Max_Abs per channel: a threshold per output channel whose largest is the per-tensor max|W|; per channel beats per tensor on the 932 test images; per-axis ONNX QDQ in ONNX Runtime within 2 images of dqss")
    func maxAbsPerChannel() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-granularity-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var correct: [String: Int] = [:]
        var thresholds: [String: [[String: Any]]] = [:]
        for g in ["tensor", "channel"] {
            let file = dir.appendingPathComponent("\(g).json")
            let (status, out, err) = try runDQSS(common + ["--weight-granularity", g, "--save-thresholds", file.path])
            #expect(status == 0, "\(err)")
            let result = try jsonObject(out)
            #expect(result["weight_granularity"] as? String == g)
            correct[g] = try #require(result["correct"] as? Int)
            let methods = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])["methods"]
                as? [String: [[String: Any]]]
            thresholds[g] = try #require(methods?["maxabs"])
        }
        let tensor = try #require(thresholds["tensor"]), channel = try #require(thresholds["channel"])
        #expect(tensor.count == 20 && channel.count == 20)
        // ResNet-20's quantized layers: conv1 (16), 6 convs of 16, 6 of 32, 6 of 64 (shortcuts are option A), fc (10).
        let expectedChannels = [16] + Array(repeating: 16, count: 6) + Array(repeating: 32, count: 6) + Array(repeating: 64, count: 6) + [10]
        for (l, (t, c)) in zip(tensor, channel).enumerated() {
            let tt = try #require(t["thresholds"] as? [String: Any]), ct = try #require(c["thresholds"] as? [String: Any])
            #expect(tt["weight_channels"] == nil)
            let perChannel = try #require(ct["weight_channels"] as? [Double], "layer \(l)")
            #expect(perChannel.count == expectedChannels[l], "layer \(l)")
            // max over the channels of max|W_c| is max|W|; the activations are the same per-tensor ones.
            #expect(perChannel.max() == tt["weight"] as? Double, "layer \(l)")
            #expect(ct["activation"] as? Double == tt["activation"] as? Double, "layer \(l)")
        }
        let perTensor = try #require(correct["tensor"]), perChannelCorrect = try #require(correct["channel"])
        // Measured: 805 vs 841 of 932 (4-bit per-tensor Max_Abs wastes most of the grid on small channels).
        #expect(perChannelCorrect > perTensor + 9, "per channel \(perChannelCorrect), per tensor \(perTensor)")

        let onnx = dir.appendingPathComponent("channel.onnx").path
        let (s2, _, e2) = try runDQSS(["export", "--from", dir.appendingPathComponent("channel.json").path, "--method", "maxabs",
                                       "--format", "onnx-qdq", "--out", onnx, "--quiet"])
        #expect(s2 == 0, "\(e2)")
        if let ort = try onnxRuntimeCorrect(onnx) {
            #expect(abs(ort - perChannelCorrect) <= 2, "ONNX Runtime \(ort), dqss \(perChannelCorrect)")
        }
        // A thresholds file whose channel count does not fit the model is refused, naming the layer, and writes nothing.
        var doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("channel.json"))) as? [String: Any])
        var methods = try #require(doc["methods"] as? [String: [[String: Any]]])
        var first = try #require(methods["maxabs"]?[0]), firstThresholds = try #require(first["thresholds"] as? [String: Any])
        firstThresholds["weight_channels"] = Array(try #require(firstThresholds["weight_channels"] as? [Double]).dropLast())
        first["thresholds"] = firstThresholds
        methods["maxabs"]![0] = first
        doc["methods"] = methods
        let bad = dir.appendingPathComponent("bad.json"), badOut = dir.appendingPathComponent("bad.onnx")
        try JSONSerialization.data(withJSONObject: doc).write(to: bad)
        let (s4, _, e4) = try runDQSS(["export", "--from", bad.path, "--method", "maxabs", "--format", "onnx-qdq", "--out", badOut.path])
        #expect(s4 != 0 && e4.contains("conv1.weight") && e4.contains("15 per-channel thresholds") && e4.contains("16 output channels"), "\(e4)")
        #expect(!FileManager.default.fileExists(atPath: badOut.path))

        // The JSON export lists every channel's threshold and scale s_c = T_c / q_max (q_max = 7 at 4 bits).
        let json = dir.appendingPathComponent("channel-export.json")
        let (s3, _, e3) = try runDQSS(["export", "--from", dir.appendingPathComponent("channel.json").path, "--method", "maxabs",
                                       "--format", "json", "--out", json.path, "--quiet"])
        #expect(s3 == 0, "\(e3)")
        let exported = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])["layers"]
            as? [[String: Any]]
        for (l, layer) in try #require(exported).enumerated() {
            let w = try #require(layer["weight"] as? [String: Any])
            let t = try #require(w["channel_thresholds"] as? [Double]), sc = try #require(w["channel_scales"] as? [Double])
            #expect(t.count == expectedChannels[l] && sc.count == t.count, "layer \(l)")
            #expect(zip(t, sc).allSatisfy { abs($0 / 7 - $1) <= 1e-6 * $0 }, "layer \(l)")
            #expect((layer["activation"] as? [String: Any])?["channel_thresholds"] == nil)
        }
    }
}
