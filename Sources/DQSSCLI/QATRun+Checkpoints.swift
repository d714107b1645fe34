// Checkpoints of `dqss qat` and `dqss search --mode qat` (docs/checkpoint.md): resume from --resume,
// then train step by step, writing a checkpoint every --checkpoint-every steps, at every epoch end
// (warm-up included), at the end, and on SIGTERM/SIGINT (then exit 75 after the write).

import ArgumentParser
import Foundation
import DQSSModels
import DQSSQuant
import DQSSDistributed
import DQSSCheckpoint

/// The settings a resumed run must share with the checkpoint, as the checkpoint's `config` JSON.
func qatCheckpointConfig(_ o: QATRunOptions, method: String) throws -> String {
    let config: [String: Any] = [
        "model": o.model, "method": method, "weights": o.weights ?? NSNull(), "data": o.data,
        "train_split": o.trainSplit, "train_limit": o.trainLimit ?? NSNull(), "epochs": o.epochs,
        "warmup_epochs": o.warmupEpochs, "batch": o.batch, "lr": Double(o.lr), "lr_theta": Double(o.lrTheta),
        "momentum": Double(o.momentum), "weight_decay": Double(o.weightDecay), "milestones": try o.milestoneEpochs,
        "bits": o.bits, "first_last_bits": try o.firstLast.description, "seed": o.seed,
        "batchnorm": o.batchNormMode,
    ]
    return String(decoding: try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]), as: UTF8.self)
}

/// Run `trainer` to its end with checkpoints (or resume it first).
func runCheckpointed(_ trainer: QATTrainer, _ o: QATRunOptions, task: String, method: String, log: ProgressLog,
                     communicator: any Communicator = SingleProcess()) throws {
    // Several ranks: only rank 0 writes; a stop signal seen by any rank stops every rank after the same step.
    var session = try CheckpointSession(o.checkpoints, log: log, isWriter: communicator.rank == 0)
    if communicator.size > 1 { session.stopAgreement = { communicator.any($0) } }
    let config = try qatCheckpointConfig(o, method: method)
    if let (c, file) = try session.resumePoint() {
        let saved = try? JSONSerialization.jsonObject(with: Data(c.config.utf8)) as? [String: Any]
        if let seed = saved?["seed"] as? UInt64, seed != o.seed {
            throw CheckpointError(.mismatch, file: file, "cannot resume: it was run with --seed \(seed), this run uses \(o.seed)")
        }
        // Checkpoints older than --sync-bn have no "batchnorm" entry: they were per-rank.
        let savedBatchNorm = saved.map { $0["batchnorm"] as? String ?? "per-rank" }
        if let bn = savedBatchNorm, bn != o.batchNormMode {
            throw CheckpointError(.mismatch, file: file, "cannot resume: it was run with \(bn) BatchNorm, this run uses "
                                  + "\(o.batchNormMode) (\(bn == "synchronised" ? "add" : "drop") --sync-bn)")
        }
        try c.restore(into: trainer, model: o.model, task: task, worldSize: communicator.size, file: file)
        log.line("resumed from \(file) at step \(trainer.globalStep) (epoch \(trainer.epoch + 1) of \(trainer.totalEpochs), warm-up included)")
    }
    while !trainer.isFinished {
        let epochBefore = trainer.epoch
        try trainer.step()
        let stop = try session.afterStep(trainer.globalStep, endOfEpoch: trainer.epoch != epochBefore, last: trainer.isFinished) {
            try Checkpoint.qat(trainer, model: o.model, task: task, commandLine: quotedCommandLine(), config: config,
                               worldSize: communicator.size)
        }
        if stop { throw ExitCode.preempted }
    }
}
