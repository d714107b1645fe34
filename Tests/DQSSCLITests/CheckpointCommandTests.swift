import Foundation
import Testing

/// `swift test` builds every product into the folder that holds the test bundle.
private let dqssPath = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    .appendingPathComponent("dqss")

/// Checkpoints through the real executable: `dqss checkpoint-drill` (a tiny mixed-quantized run) killed
/// with SIGKILL or stopped with SIGTERM, resumed with `--resume auto`; `dqss inspect` and `dqss export`.
@Suite("checkpoint commands", .serialized,
       .enabled(if: FileManager.default.isExecutableFile(atPath: dqssPath.path), "skipped: the built dqss executable was not found"))
struct CheckpointCommandTests {
    final class Scratch {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-cli-ckpt-\(UUID().uuidString)")
        init() { try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        var path: String { url.path }
        func checkpoints() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).filter { $0.hasPrefix("ckpt-") }.sorted()
        }
        deinit { try? FileManager.default.removeItem(at: url) }
    }

    func launch(_ arguments: [String], executable: String? = nil) throws -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = executable.map { URL(fileURLWithPath: $0) } ?? dqssPath
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        return (p, out, err)
    }

    /// Run to the end; (status, stdout, stderr).
    func dqss(_ arguments: [String], executable: String? = nil) throws -> (Int32, String, String) {
        let (p, out, err) = try launch(arguments, executable: executable)
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func json(_ s: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])
    }

    static let drill = ["checkpoint-drill", "--steps", "150", "--seed", "3"]

    /// The digest of the same run without interruption.
    func uninterruptedDigest() throws -> String {
        let (status, out, err) = try dqss(Self.drill + ["--json", "--quiet"])
        #expect(status == 0, "\(err)")
        return try #require(try json(out)["digest"] as? String)
    }

    /// Wait (up to 60 s) until `dir` holds at least `n` checkpoints.
    func waitForCheckpoints(_ dir: Scratch, _ n: Int, process: Process) {
        let deadline = Date().addingTimeInterval(60)
        while dir.checkpoints().count < n && Date() < deadline && process.isRunning { usleep(20_000) }
    }

    @Test("SIGKILL during a run: the latest checkpoint is readable, and resuming it ends bit for bit where an uninterrupted run ends")
    func sigkill() throws {
        let reference = try uninterruptedDigest()
        let dir = Scratch()
        let (p, _, _) = try launch(Self.drill + ["--checkpoint-dir", dir.path, "--checkpoint-every", "3", "--keep", "2",
                                                 "--step-delay-ms", "15", "--quiet"])
        waitForCheckpoints(dir, 2, process: p)
        usleep(70_000)   // land somewhere inside the run, possibly while a checkpoint is written
        #expect(p.isRunning, "the run finished before it could be killed")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal)
        let files = dir.checkpoints()
        // keep = 2, plus one when the kill lands between a rename and the pruning after it.
        #expect(!files.isEmpty && files.count <= 3, "\(files)")
        #expect(!((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).contains { $0.hasSuffix(".h5") && !$0.hasPrefix("ckpt-") })

        let (s1, out1, err1) = try dqss(["inspect", dir.path, "--json"])
        #expect(s1 == 0, "\(err1)")
        let step = try #require((try json(out1)["progress"] as? [String: Any])?["step"] as? Int)
        #expect(step > 0 && step < 150)

        let (s2, out2, err2) = try dqss(Self.drill + ["--checkpoint-dir", dir.path, "--resume", "auto", "--json"])
        #expect(s2 == 0, "\(err2)")
        #expect(err2.contains("resumed from") && err2.contains("at step \(step)"))
        #expect(try json(out2)["digest"] as? String == reference)
    }

    @Test("SIGTERM: the step finishes, a checkpoint is written, exit status 75; resuming ends where an uninterrupted run ends")
    func sigterm() throws {
        let reference = try uninterruptedDigest()
        let dir = Scratch()
        let (p, _, err) = try launch(Self.drill + ["--checkpoint-dir", dir.path, "--checkpoint-every", "1000",
                                                   "--step-delay-ms", "15"])
        waitForCheckpoints(dir, 1, process: p)   // the first epoch-end checkpoint (step 6)
        usleep(50_000)
        kill(p.processIdentifier, SIGTERM)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 75, "\(e)")
        let stopped = try #require(e.split(separator: "\n").first { $0.hasPrefix("stopped by SIGTERM after step ") })
        let step = try #require(Int(stopped.dropFirst("stopped by SIGTERM after step ".count).prefix { $0.isNumber }))
        #expect(dir.checkpoints().last == String(format: "ckpt-%08d.h5", step))

        let (s2, out2, err2) = try dqss(Self.drill + ["--checkpoint-dir", dir.path, "--resume", "auto", "--json", "--quiet"])
        #expect(s2 == 0, "\(err2)")
        #expect(try json(out2)["digest"] as? String == reference)
    }

    @Test("inspect prints step, config and the assignment table with theta; export writes the derived assignment as JSON")
    func inspectAndExport() throws {
        let dir = Scratch()
        let (s0, _, e0) = try dqss(["checkpoint-drill", "--steps", "12", "--checkpoint-dir", dir.path, "--quiet"])
        #expect(s0 == 0, "\(e0)")
        let file = dir.url.appendingPathComponent("ckpt-00000012.h5").path

        let (s1, text, _) = try dqss(["inspect", file])
        #expect(s1 == 0)
        #expect(text.contains("model tiny, task checkpoint-drill"))
        #expect(text.contains("step 12, epoch 1"))
        #expect(text.contains(#"config: {"#) && text.contains(#""steps":12"#))
        #expect(text.contains("candidates: wide, narrow"))
        for layer in ["conv1", "conv2", "conv3", "fc"] {
            #expect(text.split(separator: "\n").contains { $0.hasPrefix(layer + " ") && $0.contains("θα[") && $0.contains("θβ[") })
        }

        let (s2, out2, _) = try dqss(["inspect", file, "--json"])
        #expect(s2 == 0)
        let q = try #require(try json(out2)["quantization"] as? [String: Any])
        let layers = try #require(q["layers"] as? [[String: Any]])
        #expect(layers.count == 4)
        for l in layers {
            let alpha = try #require(l["alpha"] as? [Double]), theta = try #require(l["theta_alpha"] as? [Double])
            let m = alpha.max()!, z = alpha.map { exp($0 - m) }.reduce(0, +)
            for (a, t) in zip(alpha, theta) { #expect(abs(exp(a - m) / z - t) < 1e-12) }
            let winner = try #require(l["activation"] as? String)
            #expect(winner == ["wide", "narrow"][alpha[1] > alpha[0] ? 1 : 0])
        }

        let outFile = dir.url.appendingPathComponent("assignment.json").path
        let (s3, _, e3) = try dqss(["export", "--from", file, "--format", "json", "--out", outFile])
        #expect(s3 == 0, "\(e3)")
        let doc = try json(String(decoding: try Data(contentsOf: URL(fileURLWithPath: outFile)), as: UTF8.self))
        #expect(doc["format"] as? String == "dqss-assignment")
        #expect(doc["step"] as? Int == 12)
        let exported = try #require(doc["layers"] as? [[String: Any]])
        #expect(exported.map { $0["name"] as? String } == ["conv1", "conv2", "conv3", "fc"])
        // One assignment schema (AssignmentDocument, version 2): the choices by candidate label.
        let candidates = try #require(doc["candidates"] as? [String])
        for (x, l) in zip(exported, layers) {
            #expect(x["activation"] as? String == l["activation"] as? String)
            #expect(x["weight"] as? String == l["weight"] as? String)
            let k = try #require(candidates.firstIndex(of: x["weight"] as? String ?? ""))
            #expect(x["weight_threshold"] as? Double == (l["weight_thresholds"] as? [Double])?[k])
        }
    }

    @Test("refusals: resuming with another global batch, a corrupt file, a missing file; each names the file, exit status non-zero")
    func refusals() throws {
        let dir = Scratch()
        let (s0, _, _) = try dqss(["checkpoint-drill", "--steps", "6", "--checkpoint-dir", dir.path, "--quiet"])
        #expect(s0 == 0)
        let file = dir.url.appendingPathComponent("ckpt-00000006.h5")

        let (s1, out1, e1) = try dqss(["checkpoint-drill", "--steps", "12", "--batch", "8", "--resume", file.path, "--quiet"])
        #expect(s1 != 0 && out1.isEmpty)
        #expect(e1.contains(file.path) && e1.contains("global batch was 16, this run uses 8"))

        let bytes = try Data(contentsOf: file)
        let cut = dir.url.appendingPathComponent("cut.h5")
        try bytes.prefix(bytes.count / 3).write(to: cut)
        let (s2, _, e2) = try dqss(["inspect", cut.path])
        #expect(s2 != 0)
        #expect(e2.contains(cut.path))
        #expect(!e2.contains("HDF5-DIAG"))   // HDF5's own error stack is never printed

        let (s3, _, e3) = try dqss(["checkpoint-drill", "--resume", dir.url.appendingPathComponent("none.h5").path, "--quiet"])
        #expect(s3 != 0 && e3.contains("none.h5") && e3.contains("no such file"))
    }

    /// `dqss arguments` with the file size limit at `kilobytes` (bash `ulimit -f`) and SIGXFSZ ignored: a
    /// write past the limit fails with EFBIG, as a full disk fails with ENOSPC. (status, stdout, stderr)
    func dqssWithFileLimit(kilobytes: Int, _ arguments: [String]) throws -> (Int32, String, String) {
        try dqss(["-c", "ulimit -f \(kilobytes); trap '' XFSZ; exec \"$0\" \"$@\"", dqssPath.path] + arguments, executable: "/bin/bash")
    }

    @Test("disk full while writing a checkpoint: exit status 1 naming the file (no crash at exit), no .tmp left, the earlier checkpoint stays and resumes")
    func diskFull() throws {
        let dir = Scratch()
        let (s0, _, e0) = try dqss(["checkpoint-drill", "--steps", "6", "--checkpoint-dir", dir.path, "--quiet"])
        #expect(s0 == 0, "\(e0)")
        #expect(dir.checkpoints() == ["ckpt-00000006.h5"])
        let size = try #require(try FileManager.default.attributesOfItem(atPath: dir.url.appendingPathComponent("ckpt-00000006.h5").path)[.size] as? Int)
        let (s1, _, e1) = try dqssWithFileLimit(kilobytes: max(1, size / 2048), [
            "checkpoint-drill", "--steps", "12", "--checkpoint-dir", dir.path, "--resume", "auto", "--quiet"])
        #expect(s1 == 1, "status \(s1): \(e1)")
        #expect(e1.contains(dir.url.appendingPathComponent("ckpt-00000012.h5").path) && e1.contains("previous checkpoints kept"), "\(e1)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["ckpt-00000006.h5"])
        let (s2, out2, e2) = try dqss(["checkpoint-drill", "--steps", "12", "--checkpoint-dir", dir.path, "--resume", "auto", "--json", "--quiet"])
        #expect(s2 == 0, "\(e2)")
        #expect(try json(out2)["step"] as? Int == 12)
    }

    @Test("8 bytes flipped near the end of the newest checkpoint: --resume FILE and inspect FILE refuse naming it; --resume auto and inspect DIR warn and use the previous one")
    func damagedNewest() throws {
        let reference = try dqss(["checkpoint-drill", "--steps", "12", "--json", "--quiet"])
        let dir = Scratch()
        let (s0, _, e0) = try dqss(["checkpoint-drill", "--steps", "12", "--checkpoint-dir", dir.path, "--checkpoint-every", "3", "--keep", "5", "--quiet"])
        #expect(s0 == 0, "\(e0)")
        // Stop "at step 9": drop the last file, damage the one of step 9.
        try FileManager.default.removeItem(at: dir.url.appendingPathComponent("ckpt-00000012.h5"))
        let newest = dir.url.appendingPathComponent("ckpt-00000009.h5")
        var bytes = try Data(contentsOf: newest)
        for i in (bytes.count - 24)..<(bytes.count - 16) { bytes[i] ^= 0x5A }
        try bytes.write(to: newest)

        let (s1, out1, e1) = try dqss(["checkpoint-drill", "--steps", "12", "--resume", newest.path, "--quiet"])
        #expect(s1 == 1 && out1.isEmpty && e1.contains(newest.path) && e1.contains("SHA-256"), "status \(s1): \(e1)")
        let (s2, _, e2) = try dqss(["inspect", newest.path])
        #expect(s2 == 1 && e2.contains(newest.path), "status \(s2): \(e2)")

        let (s3, out3, e3) = try dqss(["inspect", dir.path, "--json"])
        #expect(s3 == 0, "\(e3)")
        #expect(e3.contains("warning: skipping damaged checkpoint") && e3.contains(newest.path))
        #expect((try json(out3)["progress"] as? [String: Any])?["step"] as? Int == 6)
        let (s4, out4, e4) = try dqss(["checkpoint-drill", "--steps", "12", "--checkpoint-dir", dir.path, "--resume", "auto", "--json", "--quiet"])
        #expect(s4 == 0, "\(e4)")
        #expect(e4.contains("warning: skipping damaged checkpoint") && e4.contains(newest.path), "\(e4)")
        #expect(try json(out4)["digest"] as? String == (try json(reference.1)["digest"] as? String))
    }

    @Test("a diverging run (--lr 1e12) stops with exit status 1 naming the first non-finite tensor; only finite checkpoints are left for --resume auto")
    func divergence() throws {
        let dir = Scratch()
        let (s1, _, e1) = try dqss(["checkpoint-drill", "--steps", "30", "--lr", "1e12", "--checkpoint-dir", dir.path,
                                    "--checkpoint-every", "1", "--keep", "50", "--quiet"])
        #expect(s1 == 1, "status \(s1): \(e1)")
        #expect(e1.contains("non-finite") && e1.contains("/model/"), "\(e1)")
        let files = dir.checkpoints()
        let failedStep = try #require(e1.firstMatch(of: /ckpt-(\d+)\.h5/).map { Int($0.1)! })
        #expect(files.count == failedStep - 1 && !files.contains("ckpt-\(String(format: "%08d", failedStep)).h5"), "\(files)")
    }
}
