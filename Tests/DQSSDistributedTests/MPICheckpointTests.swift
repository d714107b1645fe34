// Checkpoints of a data-parallel QAT run: written by rank 0 only, resumable on another number of ranks
// when the global batch stays the same.

import Foundation
import Testing

@Suite("mpirun QAT checkpoints", .serialized,
       .enabled(if: dqssMPIReady, "skipped: mpirun, the built dqss executable or ../shared/datasets/cifar10 not found"))
struct MPICheckpointTests {
    @Test("2 ranks write one set of checkpoints (world size 2, global batch 32); one rank resumes mid-training and finishes")
    func twoRanksThenOne() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-mpi-ckpt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let common = ["qat", "--method", "lsq",
                      "--weights", sharedDatasetsDirectory.appendingPathComponent("models/cifar10/akamaster_resnet20.safetensors").path,
                      "--data", sharedDatasetsDirectory.appendingPathComponent("cifar10").path, "--train-limit", "64",
                      "--batch", "32", "--epochs", "1", "--warmup-epochs", "1", "--eval-limit", "32",
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
}
