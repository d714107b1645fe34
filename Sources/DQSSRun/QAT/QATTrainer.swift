// QATTrainer: the QAT loop of ALGORITHMS.md §7 for a QATNetwork (one candidate or the DQSS mixture).
//
//   * Warm-up (§7.3): `warmupEpochs` epochs with the observers on (running M_x, μ_x; fake quantization with
//     the running estimates), α/β and quantizer parameters frozen, the network lr ramped linearly from 0 to
//     its base value over the warm-up steps. At its end the quantizers keep the observed initial values.
//     With 0 warm-up epochs, one observation-only forward (eval-mode BN, no update) on the first batch
//     initialises them instead.
//   * Training (§7.2): every step is ONE forward and ONE backward on a training batch (BN in train mode,
//     CIFAR augmentation), then one SGD step over two parameter groups: "network" (conv/linear W, biases,
//     BN γ/β, quantizer parameters; lr, momentum 0.9, weight decay on W and PACT a) and "architecture"
//     (α, β; lr_theta, no decay). Both follow the same step schedule (milestones in epochs, ×0.1), set per
//     step at fractional epoch t = e + step/stepsPerEpoch.
//   * Between backward and the optimizer step the gradients go through a GradientReducer (identity for
//     one process; an MPI all-reduce can be plugged in), then are checked: a NaN/Inf loss or gradient
//     stops the run with an error naming the epoch, step and parameter.
//   * Periodic evaluation (eval-mode BN) every `evalEvery` epochs and after the last one.
//
// The loop's whole mutable state is the value `QATTrainer.State` (phase/epoch/step counters, the data
// cursor, the history, the optimizer's momentum buffers, the observers' statistics); the batch order and
// the augmentation are pure functions of (seed, epoch, index), so no RNG state exists beyond the seed.
// `state` / `restore(_:)` make a run resumable from a checkpoint.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant

/// Training images whose augmentation depends on the epoch (CIFAR10Source) or not (generated data).
public struct EpochBatchSource {
    public let count: Int
    public let fill: (_ indices: ArraySlice<Int>, _ epoch: Int, _ images: Tensor) throws -> [Int]

    public init(count: Int, fill: @escaping (ArraySlice<Int>, Int, Tensor) throws -> [Int]) {
        self.count = count
        self.fill = fill
    }

    /// A source without augmentation (every epoch sees the same images).
    public init(_ source: any LabeledImageSource) {
        self.init(count: source.count) { idx, _, t in try source.fillBatch(idx, images: t) }
    }

    /// CIFAR-10 with its per-epoch seeded augmentation (set `augmentation` on the source).
    public init(cifar source: CIFAR10Source) {
        self.init(count: source.count) { idx, epoch, t in
            var s = source
            s.epoch = epoch
            return s.fillBatch(idx, images: t)
        }
    }
}

/// Between backward and the optimizer step: make every rank's gradients the same (e.g. averaged over an
/// MPI communicator). Parameters come in the same order on every rank.
public protocol GradientReducer: AnyObject {
    /// Called before each backward with the parameters `reduceGradients` will get after it (a reducer
    /// that overlaps its reduction with backward arms itself here).
    func backwardWillStart(_ parameters: [Parameter]) throws
    func reduceGradients(_ parameters: [Parameter]) throws
    /// Sum `values` (loss·n, correct, n of this rank's batch) over ranks, for the logged metrics.
    func reduceMetrics(_ values: [Double]) throws -> [Double]
    /// Combine the quantizers' observed statistics over ranks before they initialise the quantizers
    /// (end of warm-up, or the single observation without warm-up), so every replica starts alike.
    func synchronizeStatistics(_ statistics: [TensorStatistics]) throws -> [TensorStatistics]
}

extension GradientReducer {
    public func backwardWillStart(_ parameters: [Parameter]) throws {}

    /// One process: nothing to combine.
    public func synchronizeStatistics(_ statistics: [TensorStatistics]) throws -> [TensorStatistics] { statistics }
}

/// One process: nothing to reduce.
public final class SingleProcessReducer: GradientReducer {
    public init() {}
    public func reduceGradients(_ parameters: [Parameter]) throws {}
    public func reduceMetrics(_ values: [Double]) throws -> [Double] { values }
}

public struct QATConfiguration: Sendable {
    public var epochs: Int
    public var warmupEpochs: Int = 1
    public var batchSize: Int = 128
    /// Network group lr (§7.2: 1e-3).
    public var lr: Float = 1e-3
    /// Architecture group lr (α, β; §7.2: 1e-4).
    public var lrTheta: Float = 1e-4
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-4
    /// Epochs (after warm-up) at which both lrs are multiplied by `gamma` (§7.3: {100, 200}).
    public var milestones: [Double] = [100, 200]
    public var gamma: Float = 0.1
    /// Seed of the batch order and augmentation.
    public var seed: UInt64 = 0
    /// Evaluate every N training epochs (and after the last); 0 = only after the last.
    public var evalEvery: Int = 1
    public var evalBatchSize: Int = 200
    /// How α/β are trained (DQSS only; a single candidate has no architecture group).
    public var searchSchedule: QATSearchSchedule = .paper

    public init(epochs: Int) { self.epochs = epochs }
}

/// One epoch's record (the --json "history").
public struct QATEpochRecord: Sendable, Codable, Equatable {
    /// "warmup" or "train".
    public var phase: String
    /// 1-based within its phase.
    public var epoch: Int
    public var loss: Double
    /// Training top-1 (percent, train-mode network, augmented images).
    public var trainTop1: Double
    /// Test top-1 (percent) when evaluated after this epoch.
    public var testTop1: Double?
    public var lr: Float
    public var lrTheta: Float
    public var seconds: Double
    public var imagesPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case phase, epoch, loss, lr, seconds
        case trainTop1 = "train_top1"
        case testTop1 = "test_top1"
        case lrTheta = "lr_theta"
        case imagesPerSecond = "images_per_second"
    }
}

public final class QATTrainer {
    /// Everything that changes while training (save it to resume).
    public struct State {
        /// Epochs completed, warm-up included (0 ..< warmupEpochs are warm-up epochs).
        public var epoch: Int
        /// Batches done in the current epoch.
        public var stepInEpoch: Int
        /// Optimizer steps done in total.
        public var globalStep: Int
        /// Running sums of the current epoch: loss·n, correct, n, seconds.
        public var epochSums: [Double]
        public var history: [QATEpochRecord]
        /// SGD momentum buffers per group per parameter (nil before a parameter's first update).
        public var momentumBuffers: [[Tensor?]]
        /// Adam's state of the architecture group when the schedule trains α/β with Adam (else empty).
        public var thetaAdamStates: [Adam.State?] = []
        /// The network's observed statistics (QATNetwork.observedStatistics).
        public var observedStatistics: [TensorStatistics]
        /// Data cursor of the batch iterator (derived from epoch and stepInEpoch).
        public var position: BatchIterator.Position
    }

    public let network: any QATNetwork
    public let configuration: QATConfiguration
    public let trainData: EpochBatchSource
    public let testData: (any LabeledImageSource)?
    public let reducer: any GradientReducer
    public let optimizer: SGD
    /// α/β's optimiser when the schedule says Adam (then `optimizer` holds the network group only).
    public let thetaOptimizer: Adam?
    public let log: ProgressLog
    /// Called after each epoch's record is appended (e.g. to write a checkpoint).
    public var epochFinished: ((QATTrainer) -> Void)?

    public private(set) var epoch = 0
    public private(set) var stepInEpoch = 0
    public private(set) var globalStep = 0
    public private(set) var history: [QATEpochRecord] = []
    private var sums = [Double](repeating: 0, count: 4)
    private var iterator: BatchIterator
    private let loss = SoftmaxCrossEntropy()
    private let batch = Tensor(shape: [0])
    private let namedParameters: [(name: String, parameter: Parameter)]
    private let networkGroup: [(name: String, parameter: Parameter)]
    private let architectureGroup: [(name: String, parameter: Parameter)]
    private var runStart = ContinuousClock.now
    private var lastPrint = ContinuousClock.now
    private var stepsThisRun = 0

    public init(network: any QATNetwork, configuration: QATConfiguration, trainData: EpochBatchSource,
                testData: (any LabeledImageSource)? = nil, reducer: any GradientReducer = SingleProcessReducer(),
                log: ProgressLog = ProgressLog(quiet: true)) {
        precondition(trainData.count >= 1, "QAT needs at least one training image")
        precondition(configuration.epochs >= 0 && configuration.warmupEpochs >= 0 && configuration.batchSize >= 1,
                     "QAT configuration: epochs \(configuration.epochs), warm-up \(configuration.warmupEpochs), batch \(configuration.batchSize)")
        self.network = network
        self.configuration = configuration
        self.trainData = trainData
        self.testData = testData
        self.reducer = reducer
        self.log = log
        networkGroup = network.model.namedParameters() + network.quantizerParameters
        architectureGroup = network.architectureParameters
        namedParameters = networkGroup + architectureGroup
        let schedule = LRSchedule.step(milestones: configuration.milestones, gamma: configuration.gamma)
        var groups = [ParameterGroup(name: "network", parameters: networkGroup.map(\.parameter), lr: configuration.lr,
                                     momentum: configuration.momentum, weightDecay: configuration.weightDecay,
                                     schedule: schedule)]
        let architecture = ParameterGroup(name: "architecture", parameters: architectureGroup.map(\.parameter),
                                          lr: configuration.lrTheta, momentum: configuration.momentum, weightDecay: 0,
                                          schedule: schedule)
        if !architectureGroup.isEmpty && configuration.searchSchedule.thetaOptimizer == .adam {
            thetaOptimizer = Adam(groups: [architecture])
        } else {
            thetaOptimizer = nil
            if !architectureGroup.isEmpty { groups.append(architecture) }
        }
        optimizer = SGD(groups: groups)
        iterator = BatchIterator(count: trainData.count, batchSize: configuration.batchSize, seed: configuration.seed)
    }

    public var stepsPerEpoch: Int { iterator.batchesPerEpoch }
    public var totalEpochs: Int { configuration.warmupEpochs + configuration.epochs }
    public var isFinished: Bool { epoch >= totalEpochs }
    public var inWarmup: Bool { epoch < configuration.warmupEpochs }

    // MARK: - State

    public var state: State {
        State(epoch: epoch, stepInEpoch: stepInEpoch, globalStep: globalStep, epochSums: sums, history: history,
              momentumBuffers: optimizer.momentumBuffers.map { $0.map { $0?.copy() } },
              thetaAdamStates: thetaOptimizer?.states.first?.map { $0.map {
                  Adam.State(step: $0.step, expAvg: $0.expAvg.copy(), expAvgSq: $0.expAvgSq.copy()) } } ?? [],
              observedStatistics: network.observedStatistics, position: iterator.position)
    }

    public func restore(_ s: State) throws {
        try optimizer.restoreMomentumBuffers(s.momentumBuffers)
        if let thetaOptimizer {
            do { try thetaOptimizer.restoreStates([s.thetaAdamStates]) } catch {
                throw QATError.stateMismatch("α/β Adam state: \(error)")
            }
        }
        try network.restoreObservedStatistics(s.observedStatistics)
        guard s.epochSums.count == 4 else { throw QATError.stateMismatch("epoch sums have \(s.epochSums.count) entries, not 4") }
        epoch = s.epoch; stepInEpoch = s.stepInEpoch; globalStep = s.globalStep
        sums = s.epochSums; history = s.history
        iterator = BatchIterator(count: trainData.count, batchSize: configuration.batchSize, seed: configuration.seed,
                                 position: s.position)
    }

    // MARK: - Steps

    /// Fractional training epoch of the next step (0 at the end of the warm-up; negative during it).
    private var trainingEpoch: Double {
        Double(epoch - configuration.warmupEpochs) + Double(stepInEpoch) / Double(stepsPerEpoch)
    }

    /// True when the schedule has derived the network (α/β frozen, winner-take-all).
    public var isDerivedPhase: Bool { !inWarmup && configuration.searchSchedule.isDerived(atTrainingEpoch: trainingEpoch) }

    /// Freeze or release the quantizer parameters and α/β, switch the observers (warm-up vs training) and
    /// set the DQSS schedule's temperature and mixing mode for the next step.
    private func enterPhase() {
        let warm = inWarmup, derived = isDerivedPhase
        let mixture = !warm && configuration.searchSchedule.isMixture(atTrainingEpoch: trainingEpoch)
        network.setObserving(warm)
        for p in network.quantizerParameters { p.parameter.requiresGrad = !warm }
        for p in architectureGroup { p.parameter.requiresGrad = !warm && !derived && !mixture }
        network.setArchitectureSchedule(
            temperature: warm ? 1 : configuration.searchSchedule.temperature(atTrainingEpoch: trainingEpoch),
            derived: derived)
    }

    /// Without a warm-up epoch: initialise the quantizers from one observation-only forward of the first
    /// batch (eval-mode BN, no update).
    private func observeOnce() throws {
        let model = network.model
        let wasTraining = model.isTraining
        model.setTraining(false)
        network.setObserving(true)
        var probe = BatchIterator(count: trainData.count, batchSize: configuration.batchSize, seed: configuration.seed)
        _ = try trainData.fill(probe.next()[...], 0, batch)
        _ = model.forward(batch)
        network.setObserving(false)
        try synchronizeObservedStatistics()
        network.initializeWeightQuantizers()
        model.setTraining(wasTraining)
    }

    /// Other ranks' observations folded in (a no-op for one process: nothing is restored). The activation
    /// quantizers are then re-derived from the combined statistics: the observing forwards initialised them
    /// from this rank's own, which would leave the replicas with different activation quantizers.
    private func synchronizeObservedStatistics() throws {
        let observed = network.observedStatistics
        let combined = try reducer.synchronizeStatistics(observed)
        if combined != observed {
            try network.restoreObservedStatistics(combined)
            network.initializeActivationQuantizers()
        }
    }

    /// Learning rates for the current step: warm-up ramp, or the step schedule at fractional epoch t.
    private func setLearningRates() {
        if inWarmup {
            let total = Double(configuration.warmupEpochs * stepsPerEpoch)
            let done = Double(epoch * stepsPerEpoch + stepInEpoch)
            optimizer.groups[0].lr = configuration.lr * Float((done + 1) / total)
            if optimizer.groups.count > 1 { optimizer.groups[1].lr = 0 }
            thetaOptimizer?.groups[0].lr = 0
        } else {
            optimizer.setEpoch(trainingEpoch)
            thetaOptimizer?.setEpoch(trainingEpoch)
        }
    }

    /// The architecture group's current lr (0 without one).
    private var thetaLR: Float {
        thetaOptimizer?.groups[0].lr ?? (optimizer.groups.count > 1 ? optimizer.groups[1].lr : 0)
    }

    /// One forward, one backward, gradient reduction, checks, one optimizer step.
    public func step() throws {
        precondition(!isFinished, "QATTrainer.step after the last epoch")
        if globalStep == 0 && stepInEpoch == 0 && epoch == 0 {
            if configuration.warmupEpochs == 0 { try observeOnce() }
            runStart = .now
        }
        enterPhase()
        network.model.setTraining(true)
        setLearningRates()
        let indices = iterator.next()
        let labels = try trainData.fill(indices[...], iterator.position.epoch, batch)
        let logits = network.model.forward(batch)
        let l = loss.forward(logits: logits, labels: labels)
        let correct = correctCount(logits, labels: labels)
        guard l.isFinite else { throw QATError.nonFiniteLoss(epoch: epoch + 1, step: stepInEpoch + 1, value: l) }
        optimizer.zeroGradients()
        thetaOptimizer?.zeroGradients()
        let parameters = namedParameters.map(\.parameter)
        try reducer.backwardWillStart(parameters)
        _ = network.model.backward(loss.backward())
        try reducer.reduceGradients(parameters)
        for p in namedParameters where p.parameter.requiresGrad {
            if !Self.isFinite(p.parameter.grad) {
                throw QATError.nonFiniteGradient(epoch: epoch + 1, step: stepInEpoch + 1, parameter: p.name)
            }
        }
        optimizer.step()
        thetaOptimizer?.step()
        network.projectParameters()
        let m = try reducer.reduceMetrics([Double(l) * Double(labels.count), Double(correct), Double(labels.count)])
        sums[0] += m[0]; sums[1] += m[1]; sums[2] += m[2]
        stepInEpoch += 1
        globalStep += 1
        stepsThisRun += 1
        progress()
        if stepInEpoch == stepsPerEpoch { try finishEpoch() }
    }

    private static func isFinite(_ t: Tensor) -> Bool {
        var s: Float = 0
        let p = t.data
        for i in 0..<t.count { s += p[i] * 0 }   // NaN·0 = NaN, ±Inf·0 = NaN, finite·0 = 0
        return s == 0
    }

    private func seconds(since t: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - t
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    private func progress() {
        if log.quiet { return }
        guard seconds(since: lastPrint) >= 1 || stepInEpoch == stepsPerEpoch else { return }
        lastPrint = .now
        let t = seconds(since: runStart)
        let remaining = (totalEpochs - epoch) * stepsPerEpoch - stepInEpoch
        let eta = t / Double(max(stepsThisRun, 1)) * Double(remaining)
        let images = Double(stepsThisRun) * Double(configuration.batchSize)
        var phase = inWarmup ? String(format: "warm-up %d/%d", epoch + 1, configuration.warmupEpochs)
                             : String(format: "epoch %d/%d", epoch - configuration.warmupEpochs + 1, configuration.epochs)
        if !inWarmup && !architectureGroup.isEmpty && configuration.searchSchedule.kind == .annealed {
            phase += isDerivedPhase ? " (derived)"
                : configuration.searchSchedule.isMixture(atTrainingEpoch: trainingEpoch) ? " (mixture, τ 1)"
                : String(format: " (search, τ %.3f)", configuration.searchSchedule.temperature(atTrainingEpoch: trainingEpoch))
        }
        log.line(String(format: "%@ step %d/%d loss %.4f acc %.3f lr %.2e  %.0f img/s  ETA %@", phase,
                        stepInEpoch, stepsPerEpoch, sums[0] / max(sums[2], 1), sums[1] / max(sums[2], 1),
                        optimizer.groups[0].lr, images / max(t, 1e-9), formatETA(eta)))
    }

    private func formatETA(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) : String(format: "%dm%02ds", t / 60, t % 60)
    }

    private func finishEpoch() throws {
        let warm = inWarmup
        let n = max(sums[2], 1)
        let elapsed = seconds(since: runStart) - sums[3]
        var record = QATEpochRecord(phase: warm ? "warmup" : "train",
                                    epoch: warm ? epoch + 1 : epoch - configuration.warmupEpochs + 1,
                                    loss: sums[0] / n, trainTop1: 100 * sums[1] / n, testTop1: nil,
                                    lr: optimizer.groups[0].lr,
                                    lrTheta: thetaLR,
                                    seconds: elapsed, imagesPerSecond: sums[2] / max(elapsed, 1e-9))
        epoch += 1
        stepInEpoch = 0
        if warm && !inWarmup {   // end of warm-up: observers off, weight quantizers from the current W
            network.setObserving(false)
            try synchronizeObservedStatistics()
            network.initializeWeightQuantizers()
        }
        if !warm, let testData {
            let trainEpoch = epoch - configuration.warmupEpochs
            let due = (configuration.evalEvery > 0 && trainEpoch % configuration.evalEvery == 0) || isFinished
            if due {
                let r = try evaluateClassifier(network.model, data: testData, batchSize: configuration.evalBatchSize)
                record.testTop1 = 100 * r.top1
                log.line(String(format: "epoch %d/%d: test top-1 %.2f %% (%d images)", trainEpoch, configuration.epochs,
                                100 * r.top1, r.count))
            }
        }
        history.append(record)
        sums = [0, 0, 0, seconds(since: runStart)]
        epochFinished?(self)
    }

    /// Run until the last epoch is done (from wherever the state is).
    public func run() throws {
        while !isFinished { try step() }
    }
}
