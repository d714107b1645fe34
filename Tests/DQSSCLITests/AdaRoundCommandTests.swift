// AdaRound through the real commands on CIFAR-10 (issue 20): `dqss ptq --method adaround` learns a rounding
// mask per weight on MSE's thresholds, saves it with the thresholds, and `dqss export` writes the learned
// integers, which ONNX Runtime runs like dqss. A mask that does not fit its weight is refused by name.

import Foundation
import Testing

@Suite("dqss ptq --method adaround", .serialized,
       .enabled(if: cifarCLITestsReady, "skipped: ../shared/datasets or the built dqss executable not found"))
struct AdaRoundCommandTests {
    let data = sharedDatasets.appendingPathComponent("cifar10").path

    @Test("W4A8 AdaRound (50 iterations): MSE's thresholds plus a mask of every weight in the thresholds file; ONNX export within 2 images of dqss in ONNX Runtime; a wrong-size mask refused naming the layer")
    func adaRoundEndToEnd() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-adaround-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("thresholds.json")
        let (status, out, err) = try runDQSS(["ptq", "--model", "resnet20", "--weights", sharedWeights("akamaster_resnet20"),
                                              "--data", data, "--split", "test", "--method", "mse,adaround",
                                              "--weight-bits", "4", "--act-bits", "8", "--calib", "32",
                                              "--adaround-iterations", "50", "--save-thresholds", file.path, "--json"])
        #expect(status == 0, "\(err)")
        #expect(err.contains("AdaRound layer 20/20 linear: AdaRound done"), "\(err.suffix(500))")
        let results = try #require(try jsonObject(out)["results"] as? [[String: Any]])
        #expect(results.map { $0["method"] as? String } == ["mse", "adaround"])
        let adaCorrect = try #require(results[1]["correct"] as? Int)

        var doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        var methods = try #require(doc["methods"] as? [String: [[String: Any]]])
        let mse = try #require(methods["mse"]), ada = try #require(methods["adaround"])
        #expect(mse.count == 20 && ada.count == 20)
        let weights = [432] + Array(repeating: 2304, count: 6) + [4608] + Array(repeating: 9216, count: 5)
            + [18432] + Array(repeating: 36864, count: 5) + [640]
        for (l, (m, a)) in zip(mse, ada).enumerated() {
            let mt = try #require(m["thresholds"] as? [String: Any]), at = try #require(a["thresholds"] as? [String: Any])
            #expect(mt["weight_rounding"] == nil)
            #expect(at["weight"] as? Double == mt["weight"] as? Double && at["activation"] as? Double == mt["activation"] as? Double, "layer \(l)")
            let rounding = try #require(at["weight_rounding"] as? [String: Any], "layer \(l)")
            #expect(rounding["count"] as? Int == weights[l], "layer \(l)")
        }

        let onnx = dir.appendingPathComponent("adaround.onnx").path
        let (s2, _, e2) = try runDQSS(["export", "--from", file.path, "--method", "adaround", "--format", "onnx-qdq",
                                       "--out", onnx, "--quiet"])
        #expect(s2 == 0, "\(e2)")
        if let ort = try onnxRuntimeCorrect(onnx) {
            #expect(abs(ort - adaCorrect) <= 2, "ONNX Runtime \(ort), dqss \(adaCorrect)")
        }

        // The JSON export carries the mask beside the scale (a deployment tool must not re-round to nearest).
        let json = dir.appendingPathComponent("adaround-export.json")
        let (s4, _, e4) = try runDQSS(["export", "--from", file.path, "--method", "adaround", "--format", "json",
                                       "--out", json.path, "--quiet"])
        #expect(s4 == 0, "\(e4)")
        let exported = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])["layers"]
            as? [[String: Any]]
        let firstWeight = try #require(exported?.first?["weight"] as? [String: Any])
        #expect((firstWeight["rounding"] as? [String: Any])?["count"] as? Int == 432)

        // conv1's mask cut to 431 weights: refused before anything is written, naming the layer.
        var first = try #require(methods["adaround"]?[0]), thresholds = try #require(first["thresholds"] as? [String: Any])
        thresholds["weight_rounding"] = ["count": 431, "up": Data(count: 54).base64EncodedString()]
        first["thresholds"] = thresholds
        methods["adaround"]![0] = first
        doc["methods"] = methods
        let bad = dir.appendingPathComponent("bad.json"), badOut = dir.appendingPathComponent("bad.onnx")
        try JSONSerialization.data(withJSONObject: doc).write(to: bad)
        let (s3, _, e3) = try runDQSS(["export", "--from", bad.path, "--method", "adaround", "--format", "onnx-qdq", "--out", badOut.path])
        #expect(s3 != 0 && e3.contains("conv1.weight") && e3.contains("431"), "\(e3)")
        #expect(!FileManager.default.fileExists(atPath: badOut.path))
    }
}
