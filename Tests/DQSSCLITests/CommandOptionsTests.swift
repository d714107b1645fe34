// The shared option groups (Sources/DQSSCLI/CommonOptions.swift, issue 19): one name per idea with the old
// spellings still accepted (a warning naming the new one), refusals that name the flag (exit 64),
// --num-classes, and the warning when a weights file has no manifest.

import Foundation
import Testing

/// Flag checks that need no data: every case is refused by the parser or validate(), before any file opens.
@Suite("Option groups: refusals name the flag", .enabled(if: FileManager.default.isExecutableFile(atPath: dqssExecutable.path),
                                                       "skipped: the built dqss executable not found"))
struct OptionRefusalTests {
    static let eval = ["eval", "--model", "resnet20", "--weights", "w", "--data", "d"]
    static let ptq = ["ptq", "--model", "resnet20", "--weights", "w", "--data", "d", "--method", "kl"]
    static let search = ["search", "--mode", "ptq", "--model", "resnet20", "--weights", "w", "--data", "d"]
    static let sr = ["search", "--mode", "ptq", "--task", "sr", "--model", "imdn", "--weights", "w", "--data", "d", "--calib-data", "c"]
    static let qat = ["qat", "--method", "lsq", "--model", "resnet20", "--data", "d"]
    static let searchQAT = ["search", "--mode", "qat", "--model", "resnet20", "--data", "d"]
    static let export = ["export", "--model", "resnet20", "--weights", "w", "--format", "onnx", "--out", "o"]

    /// (arguments, the flag the message must name).
    static let cases: [([String], String)] = [
        // Typed values: an unknown one is refused by the parser with the flag and the valid values.
        (ptq + ["--weight-method", "entropy"], "--weight-method"),
        (["ptq", "--model", "resnet20", "--weights", "w", "--data", "d", "--method", "kl,foo"], "--method"),
        (search + ["--schedule", "fast"], "--schedule"),
        (search + ["--optimizer", "rmsprop"], "--optimizer"),
        (search + ["--search-loss", "mse"], "--search-loss"),
        (search + ["--candidates", "kl,kl"], "--candidates"),
        (search + ["--refine-from", "worst"], "--refine-from"),
        (search + ["--select-images=-5"], "--select-images"),
        (search + ["--select-images", "100", "--val-images", "0"], "--select-images"),
        (sr + ["--target", "lr"], "--target"),
        (qat + ["--dorefa-weights", "odd"], "--dorefa-weights"),
        (qat + ["--dorefa-rescale", "yes"], "--dorefa-rescale"),
        (qat + ["--lsq-grad-n", "all"], "--lsq-grad-n"),
        (qat + ["--pact-weights", "none"], "--pact-weights"),
        (qat + ["--milestones", "10,x"], "--milestones"),
        (qat + ["--first-last-bits", "1"], "--first-last-bits"),
        (searchQAT + ["--schedule", "fast"], "--schedule"),
        // Ranges of the shared groups.
        (eval + ["--num-classes", "0"], "--num-classes"),
        (qat + ["--num-classes=-3"], "--num-classes"),
        (eval + ["--limit", "0"], "--limit"),
        (eval + ["--eval-batch", "0"], "--eval-batch"),
        (qat + ["--eval-batch", "0"], "--eval-batch"),
        (ptq + ["--bits", "9"], "--bits"),
        (sr + ["--act-bits", "1"], "--act-bits"),
        (sr + ["--val-images=-1"], "--val-images"),
        (search + ["--temperature-end", "2"], "--temperature-end"),
        // --json and --markdown both print on stdout: refused by every command that has both.
        (ptq + ["--json", "--markdown"], "--json and --markdown"),
        (search + ["--json", "--markdown"], "--json and --markdown"),
        (qat + ["--json", "--markdown"], "--json and --markdown"),
        // A renamed flag given in both spellings.
        (qat + ["--limit", "8", "--eval-limit", "8"], "--eval-limit is the old spelling of --limit"),
        (eval + ["--eval-batch", "8", "--batch", "8"], "--batch is the old spelling of --eval-batch"),
        (search + ["--temperature-end", "0.1", "--temperature", "0.1"], "--temperature is the old spelling of --temperature-end"),
        (sr + ["--search-batch", "8", "--batch", "8"], "--batch is the old spelling of --search-batch"),
        (sr + ["--val-images", "8", "--val-pairs", "8"], "--val-pairs is the old spelling of --val-images"),
        (search + ["--lr-theta", "0.1", "--lr", "0.1"], "--lr is the old spelling of --lr-theta"),
        (search + ["--search-epochs", "2", "--epochs", "2"], "--epochs is the old spelling of --search-epochs"),
        (search + ["--epochs", "0"], "--epochs must be at least 1"),
        (search + ["--lr-theta", "nan"], "--lr-theta"),
        // The old spelling is checked as the new one, under its own name.
        (qat + ["--eval-limit", "0"], "--eval-limit must be at least 1"),
        (export + ["--batch", "0"], "--batch must be at least 1"),
    ]

    @Test("bad values are refused with exit 64 and a message naming the flag, nothing on stdout", arguments: cases)
    func refused(_ c: ([String], String)) throws {
        let (status, out, err) = try runDQSS(c.0)
        #expect(status == 64, "\(c.0): exit \(status): \(err)")
        #expect(out.isEmpty)
        #expect(err.contains(c.1), "\(c.0): \(err)")
    }

    @Test("--model is required by every command that builds a model (qat and search --mode qat defaulted it before)",
          arguments: [["qat", "--method", "lsq", "--data", "d"], ["search", "--mode", "qat", "--data", "d"],
                      ["eval", "--weights", "w", "--data", "d"], ["sr-eval", "--weights", "w", "--data", "d"]])
    func modelRequired(_ command: [String]) throws {
        let (status, _, err) = try runDQSS(command)
        #expect(status == 64 && err.contains("--model"), "\(command): exit \(status): \(err)")
    }

    @Test("an old spelling is accepted with a warning naming the new one (the run then fails on the missing data, not on the flag)",
          arguments: [(qat + ["--eval-limit", "8"], "--eval-limit is deprecated, use --limit"),
                      (searchQAT + ["--eval-limit", "8"], "--eval-limit is deprecated, use --limit"),
                      (eval + ["--batch", "8"], "--batch is deprecated, use --eval-batch"),
                      (ptq + ["--batch", "8"], "--batch is deprecated, use --eval-batch"),
                      (search + ["--batch", "8"], "--batch is deprecated, use --eval-batch"),
                      (export + ["--batch", "8"], "--batch is deprecated, use --eval-batch"),
                      (search + ["--temperature", "0.1"], "--temperature is deprecated, use --temperature-end"),
                      (sr + ["--temperature", "0.1"], "--temperature is deprecated, use --temperature-end"),
                      (sr + ["--batch", "8"], "--batch is deprecated, use --search-batch"),
                      (sr + ["--val-pairs", "8"], "--val-pairs is deprecated, use --val-images"),
                      (search + ["--lr", "0.1"], "--lr is deprecated, use --lr-theta"),
                      (search + ["--epochs", "2"], "--epochs is deprecated, use --search-epochs"),
                      (sr + ["--lr", "0.1"], "--lr is deprecated, use --lr-theta"),
                      (sr + ["--epochs", "2"], "--epochs is deprecated, use --search-epochs")])
    func oldSpellingAccepted(_ c: ([String], String)) throws {
        let (status, _, err) = try runDQSS(c.0)
        #expect(status != 64, "\(c.0): refused as a usage error: \(err)")
        #expect(err.contains(c.1), "\(c.0): \(err)")
        #expect(!err.contains("Unknown option"), "\(c.0): \(err)")
    }

    @Test("--help lists the new spellings and hides the old ones")
    func helpShowsNewSpellings() throws {
        let (s1, qat, _) = try runDQSS(["qat", "--help"])
        #expect(s1 == 0 && qat.contains("--limit") && qat.contains("--eval-batch") && !qat.contains("--eval-limit"))
        let (s2, eval, _) = try runDQSS(["eval", "--help"])
        #expect(s2 == 0 && eval.contains("--eval-batch") && eval.contains("--num-classes") && !eval.contains("--batch <"))
        let (s3, sr, _) = try runDQSS(["search", "--mode", "ptq", "--task", "sr", "--help"])
        #expect(s3 == 0 && sr.contains("--search-batch") && sr.contains("--val-images") && sr.contains("--temperature-end"))
        #expect(sr.contains("--search-epochs") && sr.contains("--lr-theta"))
        #expect(!sr.contains("--val-pairs") && !sr.contains("--batch <") && !sr.contains("--temperature <"))
        #expect(!sr.contains("--epochs <") && !sr.contains("--lr <"))
    }
}

/// --num-classes, the renamed flags' values and the manifest warning, on the shared ResNet-20 and CIFAR-10.
@Suite("Option groups on CIFAR-10", .serialized,
       .enabled(if: cifarCLITestsReady, "skipped: ../shared/datasets or the built dqss executable not found"))
struct OptionGroupDataTests {
    let data = sharedDatasets.appendingPathComponent("cifar10").path

    /// A copy of the shared ResNet-20 weights in a new directory, its classifier head widened to `classes`
    /// outputs (the extra rows zero, their bias -100: they never win, so top-1 stays the 10-class one),
    /// with the shared manifest beside it unless `manifest` is false.
    static func weights(classes: Int = 10, manifest: Bool = true, in dir: URL) throws -> URL {
        let source = URL(fileURLWithPath: sharedWeights("akamaster_resnet20"))
        let bytes = try Data(contentsOf: source)
        let n = Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        let header = try #require(try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + n))) as? [String: Any])
        var out: [String: Any] = [:], blob = Data()
        for (name, value) in header.sorted(by: { $0.key < $1.key }) {
            guard var entry = value as? [String: Any], let offsets = entry["data_offsets"] as? [Int],
                  var shape = entry["shape"] as? [Int] else { out[name] = value; continue }
            var tensor = bytes.subdata(in: (8 + n + offsets[0])..<(8 + n + offsets[1]))
            let extra = classes - 10
            if name == "module.linear.weight" {
                tensor.append(Data(count: 4 * extra * shape[1]))
                shape[0] = classes
            } else if name == "module.linear.bias" {
                for _ in 0..<extra { withUnsafeBytes(of: Float(-100).bitPattern.littleEndian) { tensor.append(contentsOf: $0) } }
                shape[0] = classes
            }
            entry["shape"] = shape
            entry["data_offsets"] = [blob.count, blob.count + tensor.count]
            out[name] = entry
            blob.append(tensor)
        }
        var json = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var file = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        file.append(blob)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("resnet20-\(classes).safetensors")
        try file.write(to: url)
        if manifest {
            try FileManager.default.copyItem(at: source.deletingPathExtension().appendingPathExtension("json"),
                                             to: url.deletingPathExtension().appendingPathExtension("json"))
        }
        return url
    }

    static func scratch() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("dqss-options-\(UUID().uuidString)")
    }

    func json(_ out: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], "\(out.prefix(300))")
    }

    @Test("--num-classes 12 loads weights with a 12-class head (same top-1 as the 10-class ones); without it the head tensors are refused with both shapes")
    func numClassesEval() throws {
        let dir = Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let twelve = try Self.weights(classes: 12, in: dir).path
        let common = ["eval", "--model", "resnet20", "--data", data, "--limit", "100", "--json", "--quiet"]
        let (s0, o0, e0) = try runDQSS(common + ["--weights", sharedWeights("akamaster_resnet20")])
        #expect(s0 == 0, "\(e0)")
        let (s1, o1, e1) = try runDQSS(common + ["--weights", twelve, "--num-classes", "12"])
        #expect(s1 == 0, "\(e1)")
        #expect(try json(o1)["correct"] as? Int == json(o0)["correct"] as? Int)

        let (s2, o2, e2) = try runDQSS(common + ["--weights", twelve])
        #expect(s2 == 1 && o2.isEmpty, "exit \(s2): \(e2)")
        #expect(e2.contains("linear.weight: file [12, 64]") && e2.contains("model [10, 64]") && e2.contains("linear.bias"), "\(e2)")
        let (s3, _, e3) = try runDQSS(common + ["--weights", twelve, "--num-classes", "16"])
        #expect(s3 == 1 && e3.contains("file [12, 64]") && e3.contains("model [16, 64]"), "\(e3)")
    }

    @Test("a head smaller than the data's classes is refused before any run, naming --num-classes",
          arguments: [["eval"], ["ptq", "--method", "maxabs"], ["search", "--mode", "ptq"], ["qat", "--method", "lsq"]])
    func headSmallerThanData(_ command: [String]) throws {
        let (status, out, err) = try runDQSS(command + ["--model", "resnet20", "--weights", sharedWeights("akamaster_resnet20"),
                                                        "--data", data, "--num-classes", "5", "--json"])
        #expect(status == 64 && out.isEmpty, "\(command): exit \(status): \(err)")
        #expect(err.contains("--num-classes") && err.contains("10 classes"), "\(command): \(err)")
    }

    @Test("--num-classes through ptq, search --mode ptq, qat and export (weights with a 12-class head)")
    func numClassesEveryCommand() throws {
        let dir = Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let w = try Self.weights(classes: 12, in: dir).path
        let model = ["--model", "resnet20", "--weights", w, "--num-classes", "12", "--data", data]
        let (s1, o1, e1) = try runDQSS(["ptq", "--method", "maxabs", "--calib", "8", "--limit", "50", "--json", "--quiet"] + model)
        #expect(s1 == 0, "\(e1)")
        #expect(try json(o1)["total"] as? Int == 50)
        let (s2, o2, e2) = try runDQSS(["search", "--mode", "ptq", "--candidates", "maxabs,kl", "--calib", "16", "--val-images", "16",
                                        "--search-epochs", "1", "--search-batch", "16", "--refine-passes", "0", "--limit", "50",
                                        "--json", "--quiet"] + model)
        #expect(s2 == 0, "\(e2)")
        #expect(try json(o2)["dqss_top1"] as? Double != nil)
        let (s3, o3, e3) = try runDQSS(["qat", "--method", "lsq", "--train-limit", "16", "--batch", "16", "--epochs", "1",
                                        "--limit", "20", "--json", "--quiet"] + model)
        #expect(s3 == 0, "\(e3)")
        #expect(try json(o3)["test_images"] as? Int == 20)
        let onnx = dir.appendingPathComponent("r20-12.onnx").path
        let (s4, o4, e4) = try runDQSS(["export", "--format", "onnx", "--out", onnx, "--model", "resnet20", "--weights", w,
                                        "--num-classes", "12", "--data", data, "--limit", "20", "--json"])
        #expect(s4 == 0, "\(e4)")
        #expect(try json(o4)["dqss_total"] as? Int == 20)
    }

    @Test("renamed flags keep their meaning: eval --batch (now --eval-batch), qat --eval-limit (now --limit)")
    func oldSpellingsKeepTheirMeaning() throws {
        let w = sharedWeights("akamaster_resnet20")
        let (s1, o1, e1) = try runDQSS(["eval", "--model", "resnet20", "--weights", w, "--data", data, "--limit", "50",
                                        "--batch", "25", "--json", "--quiet"])
        #expect(s1 == 0, "\(e1)")
        #expect(try json(o1)["batch"] as? Int == 25)
        #expect(e1.contains("--batch is deprecated, use --eval-batch"), "\(e1)")
        let (s2, o2, e2) = try runDQSS(["qat", "--method", "lsq", "--model", "resnet20", "--weights", w, "--data", data,
                                        "--train-limit", "16", "--batch", "16", "--epochs", "1", "--eval-limit", "24",
                                        "--json", "--quiet"])
        #expect(s2 == 0, "\(e2)")
        #expect(try json(o2)["test_images"] as? Int == 24)
    }

    @Test("weights without a manifest: a warning on stderr naming <weights>.json and the default used (with --quiet too); none with the manifest")
    func manifestWarning() throws {
        let dir = Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bare = try Self.weights(manifest: false, in: dir)
        let manifest = bare.deletingPathExtension().appendingPathExtension("json").path
        for command in [["eval"], ["ptq", "--method", "maxabs", "--calib", "8"]] {
            let (status, out, err) = try runDQSS(command + ["--model", "resnet20", "--weights", bare.path, "--data", data,
                                                            "--limit", "20", "--json", "--quiet"])
            #expect(status == 0, "\(err)")
            #expect(err.contains("warning") && err.contains(manifest) && err.contains("ImageNet"), "\(command): \(err)")
            let norm = try #require(try json(out)["normalization"] as? [String: Any])
            #expect(norm["source"] as? String == "default for resnet20 (akamaster: ImageNet mean/std)")
        }
        // A manifest without an "input" section says nothing about normalisation: the same warning, naming it.
        try Data(#"{"file": "resnet20-10.safetensors"}"#.utf8).write(to: URL(fileURLWithPath: manifest))
        let (s2, _, e2) = try runDQSS(["eval", "--model", "resnet20", "--weights", bare.path, "--data", data, "--limit", "20", "--quiet"])
        #expect(s2 == 0 && e2.contains(manifest) && e2.contains("has no input.mean/input.std"), "\(e2)")

        let (s3, _, e3) = try runDQSS(["eval", "--model", "resnet20", "--weights", sharedWeights("akamaster_resnet20"),
                                       "--data", data, "--limit", "20", "--quiet"])
        #expect(s3 == 0 && e3.isEmpty, "\(e3)")
    }
}
