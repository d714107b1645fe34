// TinyMixedRun: a small but complete DQSS QAT-style run whose whole state goes through checkpoints —
// TinyConvNet on generated shapes, a two-candidate mixed quantizer on every conv/linear (α, β learned
// jointly with the weights, §7.2), SGD with momentum in two groups and a cosine lr schedule, shuffled
// batches from a BatchIterator, and a random horizontal flip drawn from its own RNG stream.
// It backs the hidden `dqss checkpoint-drill` command and the exact-resume tests.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSCheckpoint

public struct TinyMixedConfig: Codable, Equatable, Sendable {
    public var steps: Int = 60
    public var batch: Int = 16
    public var images: Int = 96
    public var seed: UInt64 = 1
    public var lr: Float = 0.05
    public var bits: Int = 4

    public init(steps: Int = 60, batch: Int = 16, images: Int = 96, seed: UInt64 = 1, lr: Float = 0.05, bits: Int = 4) {
        self.steps = steps; self.batch = batch; self.images = images; self.seed = seed; self.lr = lr; self.bits = bits
    }
}

public final class TinyMixedRun {
    public static let modelName = "tiny"
    public static let task = "checkpoint-drill"
    /// Two threshold candidates per side: a wide and a narrow range.
    public static let candidateNames = ["wide", "narrow"]

    public let config: TinyMixedConfig
    public let data: SyntheticDataset
    public let model: TinyConvNet
    public let mixed: MixedQuantizedModel
    public let sgd: SGD
    public let names: ParameterNames
    public var batches: BatchIterator
    public var augment: RNG
    public private(set) var step = 0
    private let loss = SoftmaxCrossEntropy()
    private let batch = Tensor(shape: [0])

    /// A fresh run (initialisation from `config.seed`), or one rebuilt from a checkpoint's quantizers.
    public init(config: TinyMixedConfig, candidates: [(name: String, layers: [LayerQuantization])]? = nil) throws {
        self.config = config
        data = SyntheticDataset(count: config.images, size: 8, seed: config.seed &+ 100)
        var rng = RNG(seed: config.seed)
        model = TinyConvNet(classes: data.classCount, width: 4, rng: &rng)
        let points = QuantizedModel.points(of: model)
        let cands = candidates ?? Self.candidateNames.enumerated().map { k, name in
            (name: name, layers: points.enumerated().map { i, p in
                LayerQuantization(name: p.name, weightBits: config.bits, activationBits: config.bits,
                                  activationUnsigned: i > 0,
                                  thresholds: LayerThresholds(weight: k == 0 ? 0.8 : 0.25, activation: k == 0 ? 3 : 1))
            })
        }
        mixed = try MixedQuantizedModel(model: model, candidates: cands, freezeWeights: false)
        let weights = model.namedParameters(), arch = mixed.architectureParameters
        names = ParameterNames(weights + arch)
        sgd = SGD(groups: [
            ParameterGroup(name: "network", parameters: weights.map(\.parameter), lr: config.lr, momentum: 0.9,
                           weightDecay: 5e-4, schedule: .cosine(total: Double(config.steps))),
            ParameterGroup(name: "architecture", parameters: arch.map(\.parameter), lr: config.lr * 0.5, momentum: 0.9,
                           schedule: .cosine(total: Double(config.steps))),
        ])
        batches = BatchIterator(count: data.count, batchSize: config.batch, seed: config.seed &+ 7)
        augment = RNG(seed: config.seed &+ 13)
        model.setTraining(true)
    }

    public var isFinished: Bool { step >= config.steps }
    /// True right after the step that used the last batch of an epoch.
    public var atEpochEnd: Bool { batches.position.cursor >= data.count }

    /// One forward/backward/update on the next batch.
    public func trainStep() {
        sgd.setEpoch(Double(step))   // schedules count steps here
        let indices = batches.next()
        let labels = data.fillBatch(indices[...], images: batch)
        // Random horizontal flip per image.
        let s = data.size, per = 3 * s * s
        for k in 0..<labels.count where augment.uniform() < 0.5 {
            let img = batch.data + k * per
            for row in 0..<(3 * s) {
                let r = img + row * s
                for x in 0..<(s / 2) { let t = r[x]; r[x] = r[s - 1 - x]; r[s - 1 - x] = t }
            }
        }
        let logits = model.forward(batch)
        _ = loss.forward(logits: logits, labels: labels)
        sgd.zeroGradients()
        _ = model.backward(loss.backward())
        sgd.step()
        step += 1
    }

    /// Train to the end from the current step (a fresh run, or one `resumed`) with `session` writing
    /// checkpoints by its policy; `stepDelayMilliseconds` of sleep after every step (for stop-signal drills).
    /// Returns true when a stop signal ended the run early (after its checkpoint was written).
    public func train(session: inout CheckpointSession, stepDelayMilliseconds: Int = 0, commandLine: String = "") throws -> Bool {
        while !isFinished {
            trainStep()
            if stepDelayMilliseconds > 0 { usleep(useconds_t(stepDelayMilliseconds * 1000)) }
            if try session.afterStep(step, endOfEpoch: atEpochEnd, last: isFinished,
                                     make: { try checkpoint(commandLine: commandLine) }) {
                return true
            }
        }
        return false
    }

    /// The whole state of the run as a checkpoint (model "tiny", task "checkpoint-drill").
    public func checkpoint(commandLine: String = "", worldSize: Int = 1) throws -> Checkpoint {
        let configJSON = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        return Checkpoint(
            model: Self.modelName, task: Self.task, commandLine: commandLine, config: configJSON, worldSize: worldSize,
            progress: TrainingProgress(epoch: batches.position.epoch, step: step, dataCursor: batches.position.cursor,
                                       globalBatch: config.batch),
            rngStates: [RNGStreamState(name: "augment", rng: augment)],
            stateDict: Checkpoint.stateDict(of: model),
            quantization: QuantizationState(mixed),
            optimizer: try OptimizerState(sgd: sgd, names: names, scheduleTime: Double(step)))
    }

    /// Rebuild a run from `checkpoint` (read from `file`): same quantizers, weights, optimizer, position.
    public static func resumed(from checkpoint: Checkpoint, file: String, config: TinyMixedConfig) throws -> TinyMixedRun {
        try checkpoint.requireCompatible(with: CheckpointExpectation(model: modelName, task: task, candidates: candidateNames,
                                                                      globalBatch: config.batch), file: file)
        guard let q = checkpoint.quantization, let o = checkpoint.optimizer else {
            throw CheckpointError(.mismatch, file: file, "cannot resume: no quantizers or optimizer state in it")
        }
        let run = try TinyMixedRun(config: config, candidates: q.candidateLayers)
        try checkpoint.restoreStateDict(into: run.model, file: file)
        try q.restore(into: run.mixed, file: file)
        try o.restore(into: run.sgd, names: run.names, file: file)
        guard let augment = checkpoint.rngState("augment") else {
            throw CheckpointError(.unreadable, file: file, "missing '/rng/augment'")
        }
        run.augment = RNG(state: augment)
        run.batches = BatchIterator(count: run.data.count, batchSize: config.batch, seed: config.seed &+ 7,
                                    position: .init(epoch: checkpoint.progress.epoch, cursor: checkpoint.progress.dataCursor))
        run.step = checkpoint.progress.step
        return run
    }
}
