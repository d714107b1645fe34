// Checkpoints of QAT runs (QATTrainer over a QATMixedModel — the DQSS QAT search — or a UniformQATModel):
//   state_dict       the network's parameters and buffers
//   /quantization    per quantized layer: candidate names (paper names), bits, each candidate's current
//                    threshold (LearnableQuantizer.effectiveThreshold), α, β (none for one candidate), and
//                    the learnable parameters ("input_quantizer.lsq.s", "weight_quantizer.pact.a", ...)
//   /optimizer       SGD groups "network" and "architecture" with momentum buffers by parameter name
//   /trainer (qat)   epoch, step_in_epoch, global_step, epoch_sums [loss·n, correct, n], the observed
//                    statistics of every hook [2L, 5] (max|x|, mean|x|, min, batches, momentum), and as
//                    texts the epoch history and the epoch's elapsed seconds (JSON; timing, not state);
//                    data-parallel runs also observed_statistics_per_rank [R, 2L, 5]: every rank's own
//                    (during the warm-up without --sync-bn each rank observes its own batches, and the
//                    ranks' statistics are only combined at its end; rank r resumes with row r);
//                    and, with per-rank BatchNorm, buffers_per_rank [R, B]: every rank's own buffers (BN
//                    running mean/var/count, in namedBuffers order; state_dict holds rank 0's), restored
//                    row r on rank r, so that every replica resumes exactly, not only the one that writes;
//                    with the annealed DQSS schedule also Adam's state of α/β in parameter order:
//                    theta_adam_step [P], theta_adam_exp_avg and theta_adam_exp_avg_sq (concatenated)
// The batch order and augmentation are functions of (seed, epoch, index): no RNG state to save.
// DQSSCheckpoint knows none of this: the network says what its quantizers hold through
// `CheckpointableQATNetwork` (QATCheckpointable.swift), so nothing here downcasts to a concrete model.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch
import DQSSCheckpoint

extension Checkpoint {
    /// Everything `QATTrainer` needs to continue. `globalBatch` = batch per rank × ranks.
    public static func qat(_ trainer: QATTrainer, model: String, task: String, commandLine: String = "",
                           config: String = "{}", worldSize: Int = 1, temperature: Double = 1,
                           observedStatisticsPerRank: [[TensorStatistics]] = [],
                           buffersPerRank: [[Float]] = []) throws -> Checkpoint {
        let network = trainer.network
        let s = trainer.state
        let names = ParameterNames(network.model.namedParameters() + network.quantizerParameters + network.architectureParameters)
        let stats = flatten(s.observedStatistics)
        var perRank: [NamedArray] = []
        if !observedStatisticsPerRank.isEmpty {
            guard observedStatisticsPerRank.count == worldSize,
                  observedStatisticsPerRank.allSatisfy({ $0.count == s.observedStatistics.count }) else {
                throw QATError.stateMismatch("observed statistics of \(observedStatisticsPerRank.count) ranks "
                                             + "(\(observedStatisticsPerRank.map(\.count)) hooks) for world size \(worldSize), "
                                             + "\(s.observedStatistics.count) hooks")
            }
            perRank = [NamedArray(name: "observed_statistics_per_rank",
                                  array: .float64(observedStatisticsPerRank.flatMap(flatten),
                                                  shape: [worldSize, s.observedStatistics.count, 5]))]
        }
        if !buffersPerRank.isEmpty {
            let count = network.model.namedBuffers().reduce(0) { $0 + $1.tensor.count }
            guard buffersPerRank.count == worldSize, buffersPerRank.allSatisfy({ $0.count == count }) else {
                throw QATError.stateMismatch("buffers of \(buffersPerRank.count) ranks (\(buffersPerRank.map(\.count)) values) "
                                             + "for world size \(worldSize), \(count) buffer values")
            }
            perRank.append(NamedArray(name: "buffers_per_rank", array: .float32(buffersPerRank.flatMap { $0 }, shape: [worldSize, count])))
        }
        let history = String(decoding: try JSONEncoder().encode(s.history), as: UTF8.self)
        let section = TrainerSection(kind: "qat", arrays: [
            NamedArray(name: "epoch", array: .int64([Int64(s.epoch)], shape: [])),
            NamedArray(name: "step_in_epoch", array: .int64([Int64(s.stepInEpoch)], shape: [])),
            NamedArray(name: "global_step", array: .int64([Int64(s.globalStep)], shape: [])),
            NamedArray(name: "epoch_sums", array: .float64(Array(s.epochSums.prefix(3)))),
            NamedArray(name: "observed_statistics", array: .float64(stats, shape: [s.observedStatistics.count, 5])),
        ] + perRank + thetaAdamArrays(s.thetaAdamStates, parameters: network.architectureParameters.map(\.parameter)), texts: [
            NamedText(name: "history", value: history),
            NamedText(name: "epoch_seconds", value: "\(s.epochSums.count > 3 ? s.epochSums[3] : 0)"),
        ])
        return Checkpoint(
            model: model, task: task, commandLine: commandLine, config: config, worldSize: worldSize,
            // Every rank walks its own equal-length shard with the per-rank batch: the global cursor is R times the local one.
            progress: TrainingProgress(epoch: s.position.epoch, step: s.globalStep, dataCursor: s.position.cursor * worldSize,
                                       globalBatch: trainer.configuration.batchSize * worldSize),
            rngStates: [], stateDict: stateDict(of: network.model),
            quantization: QATCheckpointing.quantizationState(of: network, temperature: temperature),
            optimizer: try OptimizerState(sgd: trainer.optimizer, names: names, scheduleTime: Double(s.epoch)),
            trainer: section)
    }

    /// Restore `qat` (the trainer and its network) from this checkpoint; refuses another model, other candidates,
    /// other bit widths or another global batch first. `worldSize` is this run's number of ranks: resuming on
    /// another number of ranks (same global batch) continues at the same step of the same epoch; the batches
    /// then differ from the original run's, since every rank shuffles its own shard.
    /// `rank`: this process's rank; on the checkpoint's own number of ranks it resumes with its own row of
    /// `observed_statistics_per_rank` when the checkpoint has one (rank 0's statistics otherwise).
    public func restore(into qat: QATTrainer, model: String, task: String, worldSize: Int = 1, rank: Int = 0,
                        file: String) throws {
        let network = qat.network
        let own = QATCheckpointing.quantizationState(of: network, temperature: 1)
        try requireCompatible(with: CheckpointExpectation(
            model: model, task: task, candidates: own.candidates,
            layerBits: own.layers.map { ($0.name, $0.weightBits, $0.activationBits) },
            globalBatch: qat.configuration.batchSize * worldSize), file: file)
        guard let q = quantization, let o = optimizer, let t = self.trainer, t.kind == "qat" else {
            throw CheckpointError(.mismatch, file: file, "cannot resume QAT: no quantizers, optimizer or QAT trainer state in it")
        }
        try restoreStateDict(into: network.model, file: file)

        // Quantizer parameters and α/β by name.
        let quantizerParameters = Dictionary(uniqueKeysWithValues: network.quantizerParameters.map { ($0.name, $0.parameter) })
        let architecture = Dictionary(uniqueKeysWithValues: network.architectureParameters.map { ($0.name, $0.parameter) })
        var restored = 0
        for l in q.layers {
            for p in l.parameters {
                guard let target = quantizerParameters[l.name + "." + p.name] else {
                    throw CheckpointError(.mismatch, file: file, "quantizer parameter '\(l.name).\(p.name)' does not exist in this run")
                }
                guard let v = p.array.float32Values, v.count == target.value.count else {
                    throw CheckpointError(.mismatch, file: file, "'/quantization/layers/\(l.name)/parameters/\(p.name)' does not fit its parameter")
                }
                target.value.set(v)
                restored += 1
            }
            for (side, values) in [("alpha", l.alpha), ("beta", l.beta)] where !values.isEmpty {
                guard let target = architecture[l.name + "." + side], target.value.count == values.count else {
                    throw CheckpointError(.mismatch, file: file, "'\(l.name).\(side)' does not exist in this run or has another size")
                }
                target.value.set(values)
            }
        }
        if restored != quantizerParameters.count {
            throw CheckpointError(.mismatch, file: file, "it holds \(restored) quantizer parameters, this run has \(quantizerParameters.count)")
        }
        (network as? any CheckpointableQATNetwork)?.restoreTemperature(q.temperature)

        let names = ParameterNames(network.model.namedParameters() + network.quantizerParameters + network.architectureParameters)
        try o.restore(into: qat.optimizer, names: names, file: file)

        func int(_ name: String) throws -> Int {
            guard let v = t.array(name)?.int64Values?.first else {
                throw CheckpointError(.unreadable, file: file, "missing '/trainer/\(name)'")
            }
            return Int(v)
        }
        guard let sums = t.array("epoch_sums")?.float64Values, sums.count == 3,
              let statsArray = t.array("observed_statistics"), let stats = statsArray.float64Values,
              statsArray.shape.count == 2, statsArray.shape[1] == 5, stats.count == statsArray.shape[0] * 5 else {
            throw CheckpointError(.unreadable, file: file, "missing or malformed '/trainer/epoch_sums' or '/trainer/observed_statistics'")
        }
        var s = qat.state
        s.epoch = try int("epoch")
        s.stepInEpoch = try int("step_in_epoch")
        s.globalStep = try int("global_step")
        s.epochSums = sums + [Double(t.text("epoch_seconds") ?? "0") ?? 0]
        s.history = try JSONDecoder().decode([QATEpochRecord].self, from: Data((t.text("history") ?? "[]").utf8))
        s.momentumBuffers = qat.optimizer.momentumBuffers
        if qat.thetaOptimizer != nil {
            s.thetaAdamStates = try Self.thetaAdamStates(t, parameters: network.architectureParameters.map(\.parameter), file: file)
        }
        s.observedStatistics = Self.statistics(stats, rows: statsArray.shape[0])
        if worldSize == self.worldSize, worldSize > 1, let a = t.array("observed_statistics_per_rank") {
            guard let v = a.float64Values, a.shape == [worldSize, statsArray.shape[0], 5], v.count == worldSize * stats.count,
                  rank >= 0, rank < worldSize else {
                throw CheckpointError(.unreadable, file: file, "malformed '/trainer/observed_statistics_per_rank' (shape \(a.shape), "
                                      + "expected [\(worldSize), \(statsArray.shape[0]), 5])")
            }
            let rows = statsArray.shape[0]
            s.observedStatistics = Self.statistics(Array(v[(rank * rows * 5)..<((rank + 1) * rows * 5)]), rows: rows)
        }
        if worldSize == self.worldSize, worldSize > 1, let a = t.array("buffers_per_rank") {
            let buffers = network.model.namedBuffers().map(\.tensor)
            let count = buffers.reduce(0) { $0 + $1.count }
            guard let v = a.float32Values, a.shape == [worldSize, count], v.count == worldSize * count, rank >= 0, rank < worldSize else {
                throw CheckpointError(.unreadable, file: file, "malformed '/trainer/buffers_per_rank' (shape \(a.shape), "
                                      + "expected [\(worldSize), \(count)])")
            }
            var offset = rank * count
            for b in buffers {
                b.set(Array(v[offset..<(offset + b.count)]))
                offset += b.count
            }
        }
        if worldSize == self.worldSize {
            s.position = .init(epoch: progress.epoch, cursor: progress.dataCursor / worldSize)
        } else {
            // Another number of ranks (same global batch, so the same steps per epoch): this rank's shard
            // cursor after `stepInEpoch` per-rank batches of the current epoch.
            s.position = .init(epoch: s.epoch, cursor: min(s.stepInEpoch * qat.configuration.batchSize, qat.trainData.count))
        }
        do { try qat.restore(s) } catch {
            throw CheckpointError(.mismatch, file: file, "cannot resume QAT: \(error)")
        }
    }
}

extension Checkpoint {
    /// Adam's α/β state from the trainer section (step 0 = not yet updated).
    static func thetaAdamStates(_ t: TrainerSection, parameters: [Parameter], file: String) throws -> [Adam.State?] {
        guard let steps = t.array("theta_adam_step")?.int64Values, let m = t.array("theta_adam_exp_avg")?.float32Values,
              let v = t.array("theta_adam_exp_avg_sq")?.float32Values else {
            throw CheckpointError(.mismatch, file: file, "cannot resume: it holds no Adam state of α/β "
                                  + "(written with --schedule paper?); this run uses the annealed schedule")
        }
        let total = parameters.reduce(0) { $0 + $1.value.count }
        guard steps.count == parameters.count, m.count == total, v.count == total else {
            throw CheckpointError(.unreadable, file: file, "malformed '/trainer/theta_adam_*': \(steps.count) steps, "
                                  + "\(m.count)/\(v.count) values for \(parameters.count) parameters of \(total) values")
        }
        var offset = 0
        return zip(parameters, steps).map { p, step in
            let n = p.value.count
            defer { offset += n }
            guard step > 0 else { return nil }
            return Adam.State(step: Int(step), expAvg: Tensor(shape: p.value.shape, values: Array(m[offset..<(offset + n)])),
                              expAvgSq: Tensor(shape: p.value.shape, values: Array(v[offset..<(offset + n)])))
        }
    }

    /// [n, 5] rows (max|x|, mean|x|, min, batches, momentum) back into statistics.
    static func statistics(_ v: [Double], rows: Int) -> [TensorStatistics] {
        (0..<rows).map { i in
            TensorStatistics(maxAbs: Float(v[5 * i]), meanAbs: Float(v[5 * i + 1]), minimum: Float(v[5 * i + 2]),
                             batches: Int(v[5 * i + 3]), momentum: Float(v[5 * i + 4]))
        }
    }
}

/// Adam's α/β state as three arrays (empty when the run has no Adam on α/β).
private func thetaAdamArrays(_ states: [Adam.State?], parameters: [Parameter]) -> [NamedArray] {
    guard !states.isEmpty, states.count == parameters.count else { return [] }
    var steps: [Int64] = [], m: [Float] = [], v: [Float] = []
    for (s, p) in zip(states, parameters) {
        steps.append(Int64(s?.step ?? 0))
        m += s?.expAvg.array ?? [Float](repeating: 0, count: p.value.count)
        v += s?.expAvgSq.array ?? [Float](repeating: 0, count: p.value.count)
    }
    return [NamedArray(name: "theta_adam_step", array: .int64(steps)),
            NamedArray(name: "theta_adam_exp_avg", array: .float32(m)),
            NamedArray(name: "theta_adam_exp_avg_sq", array: .float32(v))]
}

/// Statistics as [n, 5] rows (max|x|, mean|x|, min, batches, momentum), flattened.
private func flatten(_ statistics: [TensorStatistics]) -> [Double] {
    statistics.flatMap { [Double($0.maxAbs), Double($0.meanAbs), Double($0.minimum), Double($0.batches), Double($0.momentum)] }
}
