import Foundation
import Testing

/// `dqss ptq` end to end on the shared CIFAR-10 data (a few calibration images, a slice of the test split).
@Suite("dqss ptq", .enabled(if: cifarCLITestsReady, "skipped: ../shared/datasets or the built dqss executable not found"))
struct PTQCommandTests {
    let common = ["ptq", "--model", "resnet20", "--weights", sharedWeights("akamaster_resnet20"),
                  "--data", sharedDatasets.appendingPathComponent("cifar10").path,
                  "--calib", "16", "--limit", "100", "--eval-batch", "50", "--json"]

    @Test("--json with two methods prints one object whose results carry method, bit widths and a sane top-1")
    func jsonTwoMethods() throws {
        let (status, out, err) = try runDQSS(common + ["--method", "maxabs,admm", "--bits", "8"])
        #expect(status == 0, "\(err)")
        #expect(out.split(separator: "\n").count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.map { $0["method"] as? String } == ["maxabs", "admm"])
        for r in results {
            #expect(r["weight_bits"] as? Int == 8 && r["activation_bits"] as? Int == 8)
            #expect(r["calibration_images"] as? Int == 16)
            let correct = try #require(r["correct"] as? Int)
            #expect(correct > 80)   // FP32 gets 91.6 % of the 932 images; W8A8 stays close
        }
        #expect(err.contains("thresholds"))
    }

    @Test("--weight-method takes every evaluated method's weight thresholds from another candidate")
    func weightMethodOverride() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-ptq-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let thresholds = dir.appendingPathComponent("t.json").path
        let (status, out, err) = try runDQSS(common + ["--method", "kl", "--weight-method", "maxabs",
                                                       "--weight-bits", "4", "--act-bits", "8",
                                                       "--save-thresholds", thresholds])
        #expect(status == 0, "\(err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        #expect(object["method"] as? String == "kl+w:maxabs")
        #expect(err.contains("KL (weights Max_Abs)"))
        // The saved file keeps each candidate's own thresholds (both were computed): KL's weight threshold of
        // a layer never exceeds Max_Abs's (T = i*·w ≤ B·w = max|W|), and differs on some layer at 4 bits' grids.
        let file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: thresholds)))
                                as? [String: Any])
        let methods = try #require(file["methods"] as? [String: [[String: Any]]])
        let kl = try #require(methods["kl"]), maxabs = try #require(methods["maxabs"])
        #expect(kl.count == maxabs.count && !kl.isEmpty)
        let wKL = kl.compactMap { ($0["thresholds"] as? [String: Any])?["weight"] as? Double }
        let wMax = maxabs.compactMap { ($0["thresholds"] as? [String: Any])?["weight"] as? Double }
        #expect(wKL.count == kl.count && wMax.count == kl.count)
        #expect(zip(wKL, wMax).allSatisfy { $0 <= $1 * (1 + 1e-6) })
        #expect(zip(wKL, wMax).contains { $0 < $1 * 0.99 })
    }

    @Test("--save-thresholds on a full disk (file size limit) leaves the previous file whole and fails naming the flag; an unwritable path fails before calibrating")
    func saveThresholdsFullDisk() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-ptq-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let thresholds = dir.appendingPathComponent("t.json")
        let previous = Data(#"{"previous": true}"#.utf8)
        try previous.write(to: thresholds)
        // bash: a 1 KiB file size limit and SIGXFSZ ignored, so the write fails with EFBIG as a full disk fails with ENOSPC.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "ulimit -f 1; trap '' XFSZ; exec \"$0\" \"$@\" 2>&1", dqssExecutable.path]
            + common + ["--method", "maxabs", "--bits", "8", "--save-thresholds", thresholds.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus != 0 && text.contains("--save-thresholds") && text.contains(thresholds.path), "\(text)")
        #expect(try Data(contentsOf: thresholds) == previous)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["t.json"])

        let (status, _, err) = try runDQSS(common + ["--method", "maxabs", "--save-thresholds", "/dev/null/t.json"])
        #expect(status != 0 && err.contains("--save-thresholds") && err.contains("/dev/null/t.json") && !err.contains(" thresholds: "), "\(err)")
    }

    @Test("an unknown --weight-method is refused, naming the flag")
    func unknownWeightMethod() throws {
        let (status, out, err) = try runDQSS(common + ["--method", "kl", "--weight-method", "entropy"])
        #expect(status != 0)
        #expect(out.isEmpty)
        #expect(err.contains("--weight-method") && err.contains("entropy"))
    }
}
