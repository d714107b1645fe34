import Foundation
import Testing

/// `dqss export` end to end from a hand-written `dqss ptq --save-thresholds` file for ResNet-20.
@Suite("dqss export", .enabled(if: cifarCLITestsReady, "skipped: ../shared/datasets or the built dqss executable not found"))
struct ExportCommandTests {
    static let layers = ["conv1"] + (1...3).flatMap { s in (0..<3).flatMap { b in ["layer\(s).\(b).conv1", "layer\(s).\(b).conv2"] } }
        + ["linear"]

    /// A thresholds file: T_a = 2 (signed for conv1, unsigned after), T_w = 0.5, under `methods`.
    static func thresholdsFile(methods: [String], in dir: URL) throws -> String {
        let perLayer: [[String: Any]] = layers.enumerated().map { i, name in
            ["name": name, "weight_bits": 8, "activation_bits": 8, "activation_unsigned": i > 0,
             "thresholds": ["weight": 0.5, "activation": 2.0]]
        }
        let doc: [String: Any] = ["model": "resnet20", "weights": sharedWeights("akamaster_resnet20"),
                                  "calibration_split": "train", "calibration_images": 16, "seed": 0,
                                  "weight_bits": 8, "activation_bits": 8, "signed_activations": false,
                                  "methods": Dictionary(uniqueKeysWithValues: methods.map { ($0, perLayer) })]
        let url = dir.appendingPathComponent("thresholds.json")
        try JSONSerialization.data(withJSONObject: doc).write(to: url)
        return url.path
    }

    static func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("trt-cache: header + one line per conv/linear input tensor, scale = T/127 in float32 hex; json: scales and tensor names")
    func cacheAndJSON() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let from = try Self.thresholdsFile(methods: ["kl"], in: dir)
        let cache = dir.appendingPathComponent("r20.cache").path
        let (s1, _, e1) = try runDQSS(["export", "--from", from, "--format", "trt-cache", "--trt-version", "10.14.1",
                                       "--out", cache])
        #expect(s1 == 0, "\(e1)")
        let lines = try String(contentsOfFile: cache, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count == 21)
        #expect(lines.first == "TRT-101401-EntropyCalibration2")
        // 2/127 as float32 = 0x3c810204.
        #expect(lines[1] == "input: 3c810204" && lines[2] == "relu: 3c810204")
        #expect(lines.contains("layer1.0.relu2: 3c810204") && lines.last == "flatten: 3c810204")
        #expect(e1.contains("weight scales are not part of a calibration cache"))

        let json = dir.appendingPathComponent("r20.json").path
        let (s2, _, e2) = try runDQSS(["export", "--from", from, "--format", "json", "--out", json, "--quiet"])
        #expect(s2 == 0, "\(e2)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        #expect(doc["format"] as? String == "dqss-export")
        let layers = try #require(doc["layers"] as? [[String: Any]])
        #expect(layers.map { $0["name"] as? String } == Self.layers)
        let first = try #require(layers.first?["activation"] as? [String: Any])
        #expect(first["tensor"] as? String == "input" && first["signed"] as? Bool == true && first["onnx_type"] as? String == "int8")
        #expect(first["scale_hex"] as? String == "3c810204" && first["strategy"] as? String == "KL")
        let second = try #require(layers[1]["activation"] as? [String: Any])
        #expect(second["onnx_type"] as? String == "uint8" && second["qmax"] as? Int == 255)
        let w = try #require(layers[1]["weight"] as? [String: Any])
        #expect(w["tensor"] as? String == "layer1.0.conv1.weight" && w["qmin"] as? Int == -127)
    }

    @Test("onnx-qdq with --data reports dqss's own top-1 of the assignment; a file with two methods needs --method")
    func qdqAndRefusal() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let from = try Self.thresholdsFile(methods: ["kl", "maxabs"], in: dir)
        let onnx = dir.appendingPathComponent("r20.onnx").path
        let (s1, _, e1) = try runDQSS(["export", "--from", from, "--format", "onnx-qdq", "--out", onnx])
        #expect(s1 != 0 && e1.contains("--method"), "\(e1)")

        let (s2, out2, e2) = try runDQSS(["export", "--from", from, "--method", "maxabs", "--format", "onnx-qdq",
                                          "--out", onnx, "--data", sharedDatasets.appendingPathComponent("cifar10").path,
                                          "--json"])
        #expect(s2 == 0, "\(e2)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(out2.utf8)) as? [String: Any])
        #expect(report["layers"] as? Int == 20 && report["dqss_total"] as? Int == 932)
        #expect((report["dqss_correct"] as? Int ?? 0) > 0)
        let size = try FileManager.default.attributesOfItem(atPath: onnx)[.size] as? Int ?? 0
        #expect(size > 1_000_000)   // 270k FP32 weights + Q/DQ nodes
        #expect(e2.contains("Clip"))   // the one signed input (the image) gets the narrow-range Clip

        let (s3, _, e3) = try runDQSS(["export", "--from", dir.appendingPathComponent("none.json").path,
                                       "--format", "onnx-qdq", "--out", onnx])
        #expect(s3 != 0 && e3.contains("none.json"))
    }
}
