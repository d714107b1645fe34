// Checkpoints of a data-parallel QAT run: written by rank 0 only, resumable on another number of ranks
// when the global batch stays the same; on 2 ranks a resume from the warm-up or from training ends
// exactly where the uninterrupted run ends; SIGTERM to a rank or to the launcher stops the job cleanly.

import Foundation
import Testing
import DQSSCheckpoint

@Suite("mpirun QAT checkpoints", .serialized,
       .enabled(if: dqssMPIReady, "skipped: mpirun, the built dqss executable or ../shared/datasets/cifar10 not found"))
struct MPICheckpointTests {
    @Test("2 ranks write one set of checkpoints (world size 2, global batch 32); one rank resumes mid-training and finishes")
    func twoRanksThenOne() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-mpi-ckpt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let common = ["qat", "--method", "lsq", "--model", "resnet20",
                      "--weights", sharedDatasetsDirectory.appendingPathComponent("models/cifar10/akamaster_resnet20.safetensors").path,
                      "--data", sharedDatasetsDirectory.appendingPathComponent("cifar10").path, "--train-limit", "64",
                      "--batch", "32", "--epochs", "1", "--warmup-epochs", "1", "--limit", "32",
                      "--threads", "1", "--json"]
        // 2 ranks × 32 images, 16 per rank per step: 2 warm-up steps + 2 training steps.
        let r = try launchMPI(2, dqssExecutable, common + ["--checkpoint-dir", dir.path, "--checkpoint-every", "1", "--keep", "10"],
                              limit: 300)
        #expect(r.status == 0, "\(r.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(files == (1...4).map { String(format: "ckpt-%08d.h5", $0) })

        let ckpt3 = dir.appendingPathComponent("ckpt-00000003.h5").path
        let i = try launch([dqssExecutable.path, "inspect", ckpt3, "--json"])
        #expect(i.status == 0, "\(i.stderr)")
        let info = try #require(try JSONSerialization.jsonObject(with: Data(i.stdout.utf8)) as? [String: Any])
        #expect(info["world_size"] as? Int == 2)
        let progress = try #require(info["progress"] as? [String: Any])
        #expect(progress["global_batch"] as? Int == 32 && progress["step"] as? Int == 3 && progress["data_cursor"] as? Int == 32)

        // One process, global batch 32: continues with step 4 (the last) and reports.
        let one = try launch([dqssExecutable.path] + common + ["--resume", ckpt3], limit: 300)
        #expect(one.status == 0, "\(one.stderr)")
        #expect(one.stderr.contains("resumed from \(ckpt3) at step 3"))
        let o = try #require(try JSONSerialization.jsonObject(with: Data(one.stdout.utf8)) as? [String: Any])
        let history = try #require(o["history"] as? [[String: Any]])
        #expect(history.map { $0["phase"] as? String } == ["warmup", "train"])
        #expect(history.allSatisfy { ($0["loss"] as? Double)?.isFinite == true })
        #expect((o["top1"] as? Double).map { $0 > 20 } == true)   // FP32 ResNet-20 is ~90 %; 4-bit LSQ after 2 steps stays far above chance

        // Another global batch is refused.
        let bad = try launch([dqssExecutable.path] + common.map { $0 == "32" ? "16" : $0 } + ["--resume", ckpt3], limit: 300)
        #expect(bad.status != 0 && bad.stderr.contains("global batch was 32, this run uses 16"))
    }

    // MARK: - Exact resume and coordinated stop on 2 ranks

    static let weights = sharedDatasetsDirectory.appendingPathComponent("models/cifar10/akamaster_resnet20.safetensors").path
    static let data = sharedDatasetsDirectory.appendingPathComponent("cifar10").path

    /// What must not depend on interruptions: per-epoch losses, accuracies and lrs, top-1, the assignment
    /// (α, β), and that the replicas agree.
    func outcome(_ stdout: String) throws -> String {
        let o = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], "\(stdout)")
        let history = (o["history"] as? [[String: Any]] ?? []).map { h in
            ["phase", "epoch", "loss", "train_top1", "test_top1", "lr", "lr_theta"].map { "\(h[$0] ?? "-")" }
        }
        let kept: [String: Any] = ["history": history, "top1": o["top1"] ?? NSNull(), "soft_top1": o["soft_top1"] ?? NSNull(),
                                   "assignment": o["assignment"] ?? NSNull(), "replicas": o["replicas_identical"] ?? NSNull()]
        return String(decoding: try JSONSerialization.data(withJSONObject: kept, options: [.sortedKeys]), as: UTF8.self)
    }

    func digest(_ dir: URL, step: Int) throws -> String {
        CheckpointDigest.of(try CheckpointReader.read(dir.appendingPathComponent(String(format: "ckpt-%08d.h5", step))))
    }

    func scratch() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("dqss-mpi-ckpt-\(UUID().uuidString)")
    }

    @Test("2 ranks (per-rank warm-up observers): resumed on 2 ranks from the warm-up (step 1) and from training (step 3), the run ends exactly where the uninterrupted one ends (JSON and final checkpoint digest)")
    func exactResumeOnTwoRanks() throws {
        // 64 images, global batch 32 = 16 per rank: 2 warm-up steps + 2 training steps; the DQSS mixture
        // initialises all four candidates from the observed statistics.
        let run = ["search", "--mode", "qat", "--model", "resnet20", "--weights", Self.weights, "--data", Self.data, "--train-limit", "64",
                   "--batch", "32", "--epochs", "1", "--warmup-epochs", "1", "--limit", "32", "--bn-reestimate", "0",
                   "--threads", "1", "--json", "--quiet"]
        let reference = scratch()
        defer { try? FileManager.default.removeItem(at: reference) }
        let r = try launchMPI(2, dqssExecutable, run + ["--checkpoint-dir", reference.path, "--checkpoint-every", "1", "--keep", "10"],
                              limit: 300)
        #expect(r.status == 0, "\(r.stderr)")
        let expected = try outcome(r.stdout)
        let expectedDigest = try digest(reference, step: 4)
        for step in [1, 3] {
            let dir = scratch()
            defer { try? FileManager.default.removeItem(at: dir) }
            let from = reference.appendingPathComponent(String(format: "ckpt-%08d.h5", step)).path
            let s = try launchMPI(2, dqssExecutable, run + ["--checkpoint-dir", dir.path, "--resume", from], limit: 300)
            #expect(s.status == 0, "\(s.stderr)")
            #expect(try outcome(s.stdout) == expected, "resumed from step \(step)")
            #expect(try digest(dir, step: 4) == expectedDigest, "resumed from step \(step)")
        }
    }

    @Test("SIGTERM to rank 1, or to the launcher (cluster/run-local.sh, which passes it to mpirun as SIGUSR1): every rank stops after the same step, rank 0 writes, the job exits 75 without MPI_ABORT; --resume auto on 2 ranks ends exactly where the uninterrupted run ends")
    func sigtermStopsTheJob() throws {
        // 64 images, global batch 16 = 8 per rank: 4 warm-up steps + 8 training steps.
        let run = ["qat", "--method", "lsq", "--model", "resnet20", "--weights", Self.weights, "--data", Self.data, "--train-limit", "64",
                   "--batch", "16", "--epochs", "2", "--warmup-epochs", "1", "--limit", "32", "--threads", "1", "--json"]
        let reference = scratch()
        defer { try? FileManager.default.removeItem(at: reference) }
        let r = try launchMPI(2, dqssExecutable, run + ["--checkpoint-dir", reference.path, "--quiet"], limit: 300)
        #expect(r.status == 0, "\(r.stderr)")
        let expected = try outcome(r.stdout)
        let expectedDigest = try digest(reference, step: 12)

        for target in ["rank 1", "launcher"] {
            let dir = scratch()
            defer { try? FileManager.default.removeItem(at: dir) }
            let args = run + ["--checkpoint-dir", dir.path, "--checkpoint-every", "1"]
            let job = target == "launcher"
                // env --default-signal: the test runner may leave SIGTERM ignored in its children, and a shell
                // cannot trap a signal that was ignored when it started.
                ? try BackgroundLaunch(["/usr/bin/env", "--default-signal=TERM,INT,USR1",
                                        clusterDirectory.appendingPathComponent("run-local.sh").path, "-n", "2", "-t", "1",
                                        dqssExecutable.path] + args, limit: 300)
                : try BackgroundLaunch(mpirunArguments(2) + [dqssExecutable.path] + args, limit: 300)
            // Signal once step 2 is on disk (10 steps to go).
            let second = dir.appendingPathComponent("ckpt-00000002.h5").path
            let deadline = Date().addingTimeInterval(240)
            while !FileManager.default.fileExists(atPath: second) && job.process.isRunning && Date() < deadline { usleep(20_000) }
            let pid = target == "launcher" ? job.descendant(running: "run-local.sh")
                                           : job.descendant(running: dqssExecutable.lastPathComponent, rank: 1)
            let victim = try #require(pid, "no \(target) process found")
            kill(victim, SIGTERM)
            let s = job.finish()
            #expect(s.status == 75, "\(target): \(s.stderr)")
            #expect(!s.stderr.contains("MPI_ABORT") && !s.stderr.contains("aborting all"), "\(target): \(s.stderr)")
            let line = try #require(s.stderr.split(separator: "\n").first { $0.hasPrefix("stopped by ") }, "\(target): \(s.stderr)")
            #expect(line.contains(target == "launcher" ? "stopped by SIGUSR1 after step " : "stopped by a signal to another rank after step "))
            let after = try #require(line.range(of: "after step "))
            let step = try #require(Int(line[after.upperBound...].prefix { $0.isNumber }))
            #expect(step >= 2 && step < 12, "\(line)")
            let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
            #expect(files.last == String(format: "ckpt-%08d.h5", step), "\(files)")

            let resumed = try launchMPI(2, dqssExecutable, run + ["--checkpoint-dir", dir.path, "--resume", "auto", "--quiet"],
                                        limit: 300)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(try outcome(resumed.stdout) == expected, "\(target)")
            #expect(try digest(dir, step: 12) == expectedDigest, "\(target)")
        }
    }
}
