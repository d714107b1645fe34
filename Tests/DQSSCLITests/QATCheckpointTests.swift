import Foundation
import Testing

/// `dqss search --mode qat` / `dqss qat` with checkpoints on a few shared CIFAR-10 images (pretrained
/// ResNet-20): a run resumed from a mid-warm-up or a mid-training checkpoint reports exactly what the
/// uninterrupted run reports; checkpoints of another run are refused.
@Suite("dqss qat checkpoints", .serialized,
       .enabled(if: cifarCLITestsReady, "skipped: ../shared/datasets or the built dqss executable not found"))
struct QATCheckpointTests {
    // 32 images, batch 16: 2 warm-up steps + 2 training steps.
    let common = ["--model", "resnet20", "--weights", sharedWeights("akamaster_resnet20"),
                  "--data", sharedDatasets.appendingPathComponent("cifar10").path,
                  "--train-limit", "32", "--batch", "16", "--epochs", "1", "--limit", "20", "--json", "--quiet"]

    func object(_ out: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
    }

    /// What must not depend on interruptions: accuracies, per-epoch losses and lrs, the assignment with α, β.
    func outcome(_ o: [String: Any]) throws -> String {
        let history = (o["history"] as? [[String: Any]] ?? []).map { h in
            ["phase", "epoch", "loss", "train_top1", "test_top1", "lr", "lr_theta"].map { "\(h[$0] ?? "-")" }
        }
        var kept: [String: Any] = ["history": history, "top1": o["top1"] ?? NSNull(), "soft_top1": o["soft_top1"] ?? NSNull()]
        kept["assignment"] = o["assignment"] ?? NSNull()
        return String(decoding: try JSONSerialization.data(withJSONObject: kept, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test("search --mode qat: resuming from step 1 (warm-up) and step 3 (training) reproduces the uninterrupted result exactly")
    func searchResume() throws {
        let search = ["search", "--mode", "qat"] + common
        let (s0, out0, e0) = try runDQSS(search)
        #expect(s0 == 0, "\(e0)")
        let reference = try outcome(try object(out0))

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-qat-ckpt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (s1, out1, e1) = try runDQSS(search + ["--checkpoint-dir", dir.path, "--checkpoint-every", "1", "--keep", "10"])
        #expect(s1 == 0, "\(e1)")
        #expect(try outcome(try object(out1)) == reference)   // writing checkpoints changes nothing
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(files == (1...4).map { String(format: "ckpt-%08d.h5", $0) })

        for step in [1, 3] {
            let file = dir.appendingPathComponent(String(format: "ckpt-%08d.h5", step)).path
            let (s, out, e) = try runDQSS(search + ["--resume", file])
            #expect(s == 0, "\(e)")
            #expect(try outcome(try object(out)) == reference, "resumed from step \(step)")
        }

        let (si, text, _) = try runDQSS(["inspect", dir.appendingPathComponent("ckpt-00000003.h5").path])
        #expect(si == 0)
        #expect(text.contains("model resnet20, task search-qat"))
        #expect(text.contains("candidates: DoReFa, DSQ, LSQ, PACT"))
        #expect(text.contains("layer1.0.conv1"))
    }

    @Test("a search checkpoint is refused by dqss qat, by another seed, by another batch and by another BatchNorm mode; each message names the file")
    func refusals() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-qat-ckpt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (s0, _, e0) = try runDQSS(["search", "--mode", "qat"] + common + ["--checkpoint-dir", dir.path, "--epochs", "0"])
        #expect(s0 == 0, "\(e0)")
        let file = dir.appendingPathComponent("ckpt-00000002.h5").path
        let (s1, _, e1) = try runDQSS(["qat", "--method", "lsq"] + common + ["--resume", file])
        #expect(s1 != 0 && e1.contains(file) && e1.contains("task 'search-qat', this run is 'qat'"))
        let (s2, _, e2) = try runDQSS(["search", "--mode", "qat"] + common + ["--resume", file, "--seed", "5"])
        #expect(s2 != 0 && e2.contains(file) && e2.contains("--seed 0, this run uses 5"))
        let (s3, _, e3) = try runDQSS(["search", "--mode", "qat"] + common + ["--resume", file, "--batch", "8"])
        #expect(s3 != 0 && e3.contains(file) && e3.contains("global batch was 16, this run uses 8"), "\(e3)")
        let (s4, _, e4) = try runDQSS(["search", "--mode", "qat"] + common + ["--resume", file, "--sync-bn"])
        #expect(s4 != 0 && e4.contains(file)
                && e4.contains("run with per-rank BatchNorm, this run uses synchronised (drop --sync-bn)"), "\(e4)")
        // Settings that change the run: refused, naming the flag, the checkpoint's value and this run's.
        for (flag, value, message) in [("--lr", "0.002", "--lr 0.001, this run uses 0.002"),
                                        ("--train-limit", "16", "--train-limit 32, this run uses 16"),
                                        ("--warmup-epochs", "2", "--warmup-epochs 1, this run uses 2"),
                                        ("--train-split", "test", "--train-split train, this run uses test"),
                                        ("--dorefa-weights", "original", "--dorefa-weights symmetric, this run uses original")] {
            let (st, _, e) = try runDQSS(["search", "--mode", "qat"] + common + ["--resume", file, flag, value])
            #expect(st != 0 && e.contains(file) && e.contains("cannot resume: it was run with " + message), "\(flag): \(e)")
            #expect(!e.contains("resumed from"), "\(flag): \(e)")
        }
    }

    @Test("--epochs may grow on resume (said on stderr, recorded as epochs_extended_from), not shrink")
    func extendEpochs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-qat-ckpt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let qat = ["qat", "--method", "lsq"] + common + ["--checkpoint-dir", dir.path]
        let (s0, _, e0) = try runDQSS(qat + ["--epochs", "0"])
        #expect(s0 == 0, "\(e0)")
        let warm = dir.appendingPathComponent("ckpt-00000002.h5").path
        let (s1, out1, e1) = try runDQSS(qat + ["--epochs", "1", "--resume", warm])
        #expect(s1 == 0, "\(e1)")
        #expect(e1.contains("resuming \(warm) with --epochs 1 instead of its 0: the run is extended by 1 epoch"), "\(e1)")
        let o = try object(out1)
        #expect(o["epochs_extended_from"] as? [Int] == [0])
        #expect((o["history"] as? [[String: Any]])?.map { $0["phase"] as? String } == ["warmup", "train"])
        let last = dir.appendingPathComponent("ckpt-00000004.h5").path
        let (s2, _, e2) = try runDQSS(qat + ["--epochs", "0", "--resume", last])
        #expect(s2 != 0 && e2.contains(last) && e2.contains("--epochs 1, this run uses 0 (--epochs may only grow"), "\(e2)")
    }

    @Test("SIGINT after training (during the BatchNorm re-estimation and final evaluation) ends the process at once")
    func signalAfterTraining() throws {
        let p = Process()
        p.executableURL = dqssExecutable
        // Training: 2 + 2 steps on 32 images; then a derived evaluation, the re-estimation and another
        // evaluation of 500 images each (seconds of work on one thread).
        p.arguments = ["search", "--mode", "qat"] + common.filter { $0 != "--quiet" }.map { $0 == "20" ? "500" : $0 }
            + ["--bn-reestimate", "32", "--threads", "1"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let lock = NSLock()
        nonisolated(unsafe) var text = ""
        err.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            lock.lock(); text += String(decoding: d, as: UTF8.self); lock.unlock()
        }
        try p.run()
        let deadline = Date().addingTimeInterval(120)
        var signalled: Date?
        while p.isRunning && Date() < deadline {
            lock.lock(); let seen = text.contains("re-estimating BatchNorm statistics"); lock.unlock()
            if seen { signalled = Date(); kill(p.processIdentifier, SIGINT); break }
            usleep(5_000)
        }
        if p.isRunning && signalled == nil { kill(p.processIdentifier, SIGKILL) }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        err.fileHandleForReading.readabilityHandler = nil
        let elapsed = signalled.map { Date().timeIntervalSince($0) }
        lock.lock(); let e = text; lock.unlock()
        #expect(signalled != nil, "the re-estimation never started: \(e)")
        #expect(p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGINT, "status \(p.terminationStatus): \(e)")
        #expect(stdout.isEmpty, "it finished instead: \(String(decoding: stdout, as: UTF8.self))")
        #expect((elapsed ?? 99) < 2, "took \(elapsed ?? -1) s after the signal")
    }

    @Test("a single-candidate QAT checkpoint (no α, β): inspect shows θ = 1 and the method, export the assignment")
    func uniformInspectExport() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-qat-ckpt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (s0, _, e0) = try runDQSS(["qat", "--method", "lsq"] + common + ["--checkpoint-dir", dir.path, "--epochs", "0"])
        #expect(s0 == 0, "\(e0)")
        let file = dir.appendingPathComponent("ckpt-00000002.h5").path
        let (s1, text, e1) = try runDQSS(["inspect", file])
        #expect(s1 == 0, "\(e1)")
        #expect(text.contains("task qat") && text.contains("candidates: LSQ"))
        #expect(text.split(separator: "\n").contains { $0.hasPrefix("layer1.0.conv1 ") && $0.contains("W4A4") && $0.contains("θα[1.0000") })
        let out = dir.appendingPathComponent("a.json").path
        let (s2, _, e2) = try runDQSS(["export", "--from", dir.path, "--format", "json", "--out", out])
        #expect(s2 == 0, "\(e2)")
        let doc = try object(String(decoding: try Data(contentsOf: URL(fileURLWithPath: out)), as: UTF8.self))
        let layers = try #require(doc["layers"] as? [[String: Any]])
        #expect(layers.count == 20 && layers.allSatisfy { $0["activation"] as? String == "LSQ" })
        #expect(layers.allSatisfy { ($0["weight_threshold"] as? Double).map { $0 > 0 } == true })
    }

    @Test("export of a QAT run is the network the run reported: DoReFa weights (c·tanh(W)/max|tanh W| on the grid of c) from its checkpoint, and the DQSS search's --out directory (derived network after BatchNorm re-estimation, network_top1) give the run's top-1 on test within 1 image in dqss and within 2 in ONNX Runtime",
          arguments: ["dorefa", "dqss"])
    func exportIsTheReportedNetwork(method: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-qat-export-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        // The whole test split (932 images) is evaluated, as the export evaluates it.
        let whole = common.filter { !["--limit", "--eval-limit", "20"].contains($0) }
        // DQSS: the --out directory, with the BatchNorm re-estimation that changes the saved statistics (the
        // saved network is the re-estimated one and network_top1 says so); DoReFa: the last training checkpoint.
        let args = method == "dqss"
            ? ["search", "--mode", "qat"] + whole + ["--epochs", "2", "--bn-reestimate", "32", "--out", dir.path]
            : ["qat", "--method", method] + whole + ["--checkpoint-dir", dir.path]
        let (s0, out0, e0) = try runDQSS(args)
        #expect(s0 == 0, "\(e0)")
        let report = try object(out0)
        let reported = try #require(report[method == "dqss" ? "network_top1" : "top1"] as? Double)
        if method == "dqss" {
            #expect(report["network"] as? String == dir.appendingPathComponent("network.h5").path)
            #expect(report["network_top1"] as? Double == report["derived_bn_top1"] as? Double)
            for name in ["network.h5", "search.json", "assignment.json", "layers.md", "figure4.svg", "theta.svg", "loss.svg", "top1.svg"] {
                #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path), "\(name) missing")
            }
            // assignment.json: the PTQ search's schema, with θ and margins; alone it is refused (trained weights).
            let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("assignment.json"))) as? [String: Any])
            #expect(doc["format"] as? String == "dqss-assignment" && doc["task"] as? String == "search-qat")
            let layers = try #require(doc["layers"] as? [[String: Any]])
            #expect(layers.count == 20 && layers.allSatisfy { ($0["theta_activation"] as? [Double])?.count == 4 && $0["weight_margin"] != nil })
            let (s2, _, e2) = try runDQSS(["export", "--from", dir.appendingPathComponent("assignment.json").path,
                                           "--format", "onnx-qdq", "--out", dir.appendingPathComponent("x.onnx").path])
            #expect(s2 != 0 && e2.contains("assignment of a QAT run"), "\(e2)")
        }
        let onnx = dir.appendingPathComponent("final.onnx").path
        let (s1, out1, e1) = try runDQSS(["export", "--from", dir.path, "--format", "onnx-qdq", "--out", onnx,
                                          "--data", sharedDatasets.appendingPathComponent("cifar10").path, "--split", "test", "--json"])
        #expect(s1 == 0, "\(e1)")
        let export = try object(out1)
        let correct = try #require(export["dqss_correct"] as? Int), total = try #require(export["dqss_total"] as? Int)
        let reportedCorrect = Int((reported * Double(total) / 100).rounded())
        #expect(total == 932)
        #expect(abs(correct - reportedCorrect) <= 1, "export evaluates to \(correct), the run reported \(reportedCorrect) of \(total)")
        if method == "dorefa" {
            #expect((export["notes"] as? [String] ?? []).contains { $0.hasPrefix("20 layer(s) with DoReFa weights") })
        }
        if let ort = try onnxRuntimeCorrect(onnx) {
            #expect(abs(ort - reportedCorrect) <= 2, "ONNX Runtime \(ort), the run reported \(reportedCorrect)")
        }
    }
}
