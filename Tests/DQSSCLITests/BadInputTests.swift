// Bad input through the real commands (issue 16, items 1 and 14): a clear error naming the file,
// tensor or flag and an ordinary exit status, never a trap (132/134/139) or a run that goes on.

import Foundation
import Testing

@Suite("Bad input: weights and flags", .serialized,
       .enabled(if: cifarCLITestsReady, "skipped: ../shared/datasets/cifar10 or the built dqss executable not found"))
struct BadInputTests {
    /// A copy of the real ResNet-20 weights with `value` written into element 3 of `tensor`.
    static func weights(with value: Float, in tensor: String) throws -> URL {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: sharedWeights("akamaster_resnet20")))
        let n = Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        let header = try #require(try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + n))) as? [String: Any])
        let entry = try #require(header[tensor] as? [String: Any])
        let begin = try #require((entry["data_offsets"] as? [Int])?.first)
        let at = 8 + n + begin + 3 * 4
        withUnsafeBytes(of: value.bitPattern.littleEndian) { v in for k in 0..<4 { bytes[at + k] = v[k] } }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-bad-\(UUID().uuidString).safetensors")
        try bytes.write(to: url)
        return url
    }

    @Test("NaN or Inf in the weights: eval, ptq and search --mode ptq stop at load with exit 1 naming the file and tensor")
    func nonFiniteWeights() throws {
        let data = sharedDatasets.appendingPathComponent("cifar10").path
        for value in [Float.nan, -.infinity] {
            let url = try Self.weights(with: value, in: "module.layer1.0.conv1.weight")
            defer { try? FileManager.default.removeItem(at: url) }
            for command in [["eval", "--limit", "8"],
                            ["ptq", "--method", "maxabs", "--calib", "8", "--limit", "8"],
                            ["search", "--mode", "ptq", "--calib", "8", "--limit", "8"]] {
                let (status, stdout, stderr) = try runDQSS(command + ["--model", "resnet20", "--weights", url.path,
                                                                     "--data", data, "--json", "--quiet"])
                #expect(status == 1, "\(command[0]) exit \(status): \(stderr)")
                #expect(stdout.isEmpty, "\(command[0])")
                #expect(stderr.contains(url.lastPathComponent) && stderr.contains("module.layer1.0.conv1.weight")
                        && stderr.contains("NaN or Inf"), "\(command[0]): \(stderr)")
            }
        }
    }

    @Test("/dev/null as weights says it is a character device, not a permission problem")
    func devNullWeights() throws {
        let (status, _, stderr) = try runDQSS(["eval", "--model", "resnet20", "--weights", "/dev/null",
                                               "--data", sharedDatasets.appendingPathComponent("cifar10").path, "--limit", "8"])
        #expect(status == 1 && stderr.contains("character device") && !stderr.contains("permission"), "\(stderr)")
    }

    @Test("non-finite or out-of-range optimiser flags are refused before any work, naming the flag")
    func optimiserFlags() throws {
        let w = sharedWeights("akamaster_resnet20"), data = sharedDatasets.appendingPathComponent("cifar10").path
        let cases: [([String], String)] = [
            (["qat", "--method", "lsq", "--momentum", "nan"], "--momentum"),
            (["qat", "--method", "lsq", "--momentum", "inf"], "--momentum"),
            (["qat", "--method", "lsq", "--momentum", "-1"], "--momentum"),
            (["qat", "--method", "lsq", "--weight-decay", "nan"], "--weight-decay"),
            (["qat", "--method", "lsq", "--weight-decay", "inf"], "--weight-decay"),
            (["qat", "--method", "lsq", "--weight-decay", "-1"], "--weight-decay"),
            (["search", "--mode", "qat", "--momentum", "nan"], "--momentum"),
            (["search", "--mode", "ptq", "--momentum", "nan"], "--momentum"),
            (["search", "--mode", "ptq", "--momentum", "1.5"], "--momentum"),
        ]
        for (args, flag) in cases {
            let (status, stdout, stderr) = try runDQSS(args + ["--model", "resnet20", "--weights", w, "--data", data, "--json"])
            #expect(status == 64 && stdout.isEmpty && stderr.contains(flag), "\(args): exit \(status): \(stderr)")
        }
    }

    @Test("ptq takes the paper's labels as the tables print them (--method EQ,Max_Abs) and refuses --json with --markdown")
    func methodLabelsAndOutputFlags() throws {
        let w = sharedWeights("akamaster_resnet20"), data = sharedDatasets.appendingPathComponent("cifar10").path
        let (status, out, err) = try runDQSS(["ptq", "--model", "resnet20", "--weights", w, "--data", data, "--method", "EQ,Max_Abs",
                                              "--calib", "8", "--eq-images", "4", "--limit", "16", "--json", "--quiet"])
        #expect(status == 0, "\(err)")
        #expect(out.contains("\"easyquant\"") && out.contains("\"maxabs\""), "\(out.prefix(400))")
        let (s2, o2, e2) = try runDQSS(["ptq", "--model", "resnet20", "--weights", w, "--data", data, "--method", "kl",
                                        "--json", "--markdown"])
        #expect(s2 == 64 && o2.isEmpty && e2.contains("--json and --markdown"), "\(e2)")
    }
}
