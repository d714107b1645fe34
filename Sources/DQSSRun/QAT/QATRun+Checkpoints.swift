// Checkpoints of `dqss qat` and `dqss search --mode qat` (docs/checkpoint.md): resume from --resume,
// then train step by step, writing a checkpoint every --checkpoint-every steps, at every epoch end
// (warm-up included), at the end, and on SIGTERM/SIGINT/SIGUSR1 (then exit 75 after the write).
//
// Resuming checks the checkpoint's `config` against this run's flags: any setting that changes the run
// (--lr, --train-limit, --train-split, --warmup-epochs, --dorefa-weights, ...) is refused with an error
// naming the flag, the checkpoint's value and this run's. `--epochs` may grow (extend a run): said on
// stderr and recorded ("epochs_extended_from" in the checkpoints' config and in --json).
//
// Under mpirun every rank runs this loop in lockstep: the stop is agreed every step (`any` over ranks),
// every rank's warm-up observations are gathered into rank 0's checkpoint (each rank resumes its own),
// and a stop ends with a barrier after rank 0's write, then exit 75 on every rank (no MPI_Abort).

import Foundation
import DQSSModels
import DQSSQuant
import DQSSDistributed
import DQSSCheckpoint

/// The settings a resumed run must share with the checkpoint, as the checkpoint's `config` JSON.
/// `extendedFrom`: the --epochs values of earlier legs of this run that a resume extended.
func qatCheckpointConfig(_ o: QATRunSettings, method: String, extendedFrom: [Int] = []) throws -> String {
    var config: [String: Any] = [
        "model": o.model, "method": method, "weights": o.weights ?? NSNull(), "data": o.data,
        "train_split": o.trainSplit, "train_limit": o.trainLimit ?? NSNull(), "epochs": o.epochs,
        "warmup_epochs": o.warmupEpochs, "batch": o.batch, "lr": Double(o.lr), "lr_theta": Double(try o.thetaLR(method: method)),
        "schedule": try o.searchSchedule(method: method).description,
        "momentum": Double(o.momentum), "weight_decay": Double(o.weightDecay), "milestones": o.milestones,
        "bits": o.bits, "first_last_bits": o.firstLast.description, "seed": o.seed,
        "batchnorm": o.batchNormMode,
        // The flags' spellings of the quantizer variants.
        "dorefa_weights": o.qat.dorefaOriginalWeights ? "original" : "symmetric",
        "dorefa_rescale": o.qat.dorefaRescale ? "on" : "off",
        "lsq_grad_n": o.qat.lsqGradientPerBatch ? "batch" : "features",
        "pact_weights": o.qat.pactDoReFaWeights ? "dorefa" : "clip",
        "pact_init": o.qat.pactInit.map { Double($0) } ?? NSNull(),
    ]
    if !extendedFrom.isEmpty { config["epochs_extended_from"] = extendedFrom }
    return String(decoding: try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]), as: UTF8.self)
}

/// Config keys a resumed run must not change, with their flags. (seed and batchnorm have their own
/// messages; model, task, candidates, bit widths and the global batch are checked by `restore`.)
private let qatResumeFixedSettings: [(key: String, flag: String)] = [
    ("train_split", "--train-split"), ("train_limit", "--train-limit"), ("warmup_epochs", "--warmup-epochs"),
    ("lr", "--lr"), ("lr_theta", "--lr-theta"), ("momentum", "--momentum"), ("weight_decay", "--weight-decay"),
    ("milestones", "--milestones"), ("bits", "--bits"), ("first_last_bits", "--first-last-bits"),
    ("dorefa_weights", "--dorefa-weights"), ("dorefa_rescale", "--dorefa-rescale"), ("lsq_grad_n", "--lsq-grad-n"),
    ("pact_weights", "--pact-weights"), ("pact_init", "--pact-init"),
    ("schedule", "--schedule/--search-epochs/--mixture-epochs/--temperature-end"),
]

/// A config value as the user typed it: Float flags as Floats ("0.001", not 0.0010000000474974513).
private func flagValue(_ v: Any?) -> String {
    switch v {
    case nil, is NSNull: return "(not given)"
    case let a as [Any]: return a.map { flagValue($0) }.joined(separator: ",")
    case let i as Int: return "\(i)"
    case let d as Double: return d == d.rounded() && abs(d) < 1e15 ? "\(Int64(d))" : "\(Float(d))"
    case let v?: return "\(v)"
    }
}

/// A JSON value in one canonical spelling (for comparing a checkpoint's config with this run's).
private func canonicalJSON(_ v: Any) -> String {
    (try? JSONSerialization.data(withJSONObject: [v], options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "\(v)"
}

/// What a resume checks against the checkpoint's config; returns the epochs of the earlier legs when
/// this run extends it (`--epochs` grew), empty otherwise.
func checkQATResume(saved: [String: Any], current: [String: Any], file: String, log: (String) -> Void) throws -> [Int] {
    for (key, flag) in qatResumeFixedSettings {
        // Checkpoints written before a setting was recorded cannot be checked for it.
        guard let was = saved[key] else { continue }
        let now = current[key] ?? NSNull()
        if canonicalJSON(was) != canonicalJSON(now) {
            throw CheckpointError(.mismatch, file: file, "cannot resume: it was run with \(flag) \(flagValue(was)), this run uses "
                                  + "\(flagValue(now)) (a resumed run must use the checkpoint's settings; start a new run to change them)")
        }
    }
    var extended = saved["epochs_extended_from"] as? [Int] ?? []
    if let was = saved["epochs"] as? Int, let now = current["epochs"] as? Int, was != now {
        guard now > was else {
            throw CheckpointError(.mismatch, file: file, "cannot resume: it was run with --epochs \(was), this run uses \(now) "
                                  + "(--epochs may only grow, to extend a run)")
        }
        extended.append(was)
        log("dqss: note: resuming \(file) with --epochs \(now) instead of its \(was): the run is extended by \(now - was) "
            + "epoch\(now - was == 1 ? "" : "s") (recorded as epochs_extended_from)")
    }
    return extended
}

/// Every rank stops together after the same step (a collective agreement), rank 0 has written the
/// checkpoint: thrown on every rank, turned into exit status 75 (`ExitCode.preempted`) without MPI_Abort.
public struct QATPreempted: JobWideExit {}

/// Run `trainer` to its end with checkpoints (or resume it first). Returns the --epochs values of the
/// earlier legs of the run when this resume extended it.
@discardableResult
func runCheckpointed(_ trainer: QATTrainer, _ o: QATRunSettings, task: String, method: String, log: ProgressLog,
                     communicator: any Communicator = SingleProcess()) throws -> [Int] {
    // Several ranks: only rank 0 writes; a stop signal seen by any rank stops every rank after the same step.
    var session = try CheckpointSession(o.checkpoints, log: log, isWriter: communicator.rank == 0)
    if communicator.size > 1 { session.stopAgreement = { communicator.any($0) } }
    var extendedFrom: [Int] = []
    if let (c, file) = try session.resumePoint() {
        let saved = try? JSONSerialization.jsonObject(with: Data(c.config.utf8)) as? [String: Any]
        // Another model, task or global batch first: the settings compared below would differ too and say less.
        try c.requireCompatible(with: CheckpointExpectation(model: o.model, task: task, globalBatch: o.batch), file: file)
        if let seed = saved?["seed"] as? UInt64, seed != o.seed {
            throw CheckpointError(.mismatch, file: file, "cannot resume: it was run with --seed \(seed), this run uses \(o.seed)")
        }
        // Checkpoints older than --sync-bn have no "batchnorm" entry: they were per-rank.
        let savedBatchNorm = saved.map { $0["batchnorm"] as? String ?? "per-rank" }
        if let bn = savedBatchNorm, bn != o.batchNormMode {
            throw CheckpointError(.mismatch, file: file, "cannot resume: it was run with \(bn) BatchNorm, this run uses "
                                  + "\(o.batchNormMode) (\(bn == "synchronised" ? "add" : "drop") --sync-bn)")
        }
        if let saved {
            let current = try JSONSerialization.jsonObject(with: Data(try qatCheckpointConfig(o, method: method).utf8)) as? [String: Any] ?? [:]
            let loud = communicator.rank == 0
            extendedFrom = try checkQATResume(saved: saved, current: current, file: file) {
                if loud { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
            }
        }
        try c.restore(into: trainer, model: o.model, task: task, worldSize: communicator.size, rank: communicator.rank, file: file)
        log.line("resumed from \(file) at step \(trainer.globalStep) (epoch \(trainer.epoch + 1) of \(trainer.totalEpochs), warm-up included)")
    }
    let config = try qatCheckpointConfig(o, method: method, extendedFrom: extendedFrom)
    while !trainer.isFinished {
        let epochBefore = trainer.epoch
        try trainer.step()
        let stop = try session.afterStep(trainer.globalStep, endOfEpoch: trainer.epoch != epochBefore, last: trainer.isFinished) {
            try qatCheckpoint(trainer, o, task: task, config: config, communicator: communicator)
        }
        if stop {
            // Every rank stops after this same step; the others wait until rank 0's checkpoint is on disk.
            if communicator.size > 1 { communicator.barrier() }
            throw QATPreempted()   // signals stay caught until the exit: a second one cannot cut it short
        }
    }
    session.finish()   // from here (final evaluation, BatchNorm re-estimation) a signal ends the process
    return extendedFrom
}

/// The checkpoint of `trainer` now. Under mpirun a collective (every rank calls it, rank 0 writes): every
/// rank's warm-up observations (they differ during a per-rank warm-up) and, with per-rank BatchNorm, every
/// rank's BN running statistics (they differ always), so that each rank resumes its own.
func qatCheckpoint(_ trainer: QATTrainer, _ o: QATRunSettings, task: String, config: String,
                   communicator: any Communicator) throws -> Checkpoint {
    var observed: [[TensorStatistics]] = [], buffers: [[Float]] = []
    if communicator.size > 1 {
        observed = communicator.allgather(flattenStatistics(trainer.network.observedStatistics)).map(unflattenStatistics)
        if !o.syncBn {
            // Float -> Double -> Float is exact: the allgather of Doubles carries the bits unchanged.
            let mine = trainer.network.model.namedBuffers().flatMap { $0.tensor.array.map(Double.init) }
            buffers = communicator.allgather(mine).map { $0.map(Float.init) }
        }
    }
    return try Checkpoint.qat(trainer, model: o.model, task: task, commandLine: o.commandLine, config: config,
                              worldSize: communicator.size, observedStatisticsPerRank: observed, buffersPerRank: buffers)
}

private func flattenStatistics(_ s: [TensorStatistics]) -> [Double] {
    s.flatMap { [Double($0.maxAbs), Double($0.meanAbs), Double($0.minimum), Double($0.batches), Double($0.momentum)] }
}

private func unflattenStatistics(_ v: [Double]) -> [TensorStatistics] {
    stride(from: 0, to: v.count - 4, by: 5).map { i in
        TensorStatistics(maxAbs: Float(v[i]), meanAbs: Float(v[i + 1]), minimum: Float(v[i + 2]), batches: Int(v[i + 3]),
                         momentum: Float(v[i + 4]))
    }
}
