// The library side of `dqss qat` (one QAT candidate) and `dqss search --mode qat` (DQSS over the four):
// settings, data, the pretrained model, the QATTrainer run with checkpoints, and the report.
//
// Data: `trainSplit` (the 4,660 CIFAR-10 training images of ../shared/datasets by default), its first
// `trainLimit` images, with the CIFAR augmentation (flip + 4-pixel-pad crop, seeded per epoch and image);
// evaluation on `split` (first `evalLimit` images), eval-mode BN. When `data` holds `dqss prepare` shards
// (`<data>/<split>/shard-*.h5`, the ImageNet-scale path, any zoo model), those are read instead: each rank
// opens only its own shard files (ShardImageSource), no augmentation.
// Schedule (ALGORITHMS.md §7.2–7.3): `warmupEpochs` observation epochs, then `epochs` of SGD with the two
// groups (network lr, α/β lr `lrTheta`), ×0.1 at `milestones` (epochs after warm-up).
//
// Under mpirun (DQSSDistributed): `batch` is the GLOBAL batch; each of the R ranks reads only its
// contiguous shard of the training images (all shards cut to the same length, so every rank runs the
// same number of steps) and trains on batch/R of them per step; gradients and metrics are averaged over
// the ranks (BucketedGradientReducer, each 4 MB bucket's allreduce started during backward as soon as
// its layers' gradients are final: overlapBackward), the warm-up statistics combined before the quantizers are
// initialised. BatchNorm uses per-rank batch statistics by default; `syncBn` makes every BatchNorm2d
// normalise with the global batch's statistics (SynchronisedBatchNorm: three small allreduces per BN layer
// per step) and combines every warm-up observation over the ranks as it is made (an ObservationReducer),
// the only way R ranks reproduce the one-process run of the same global batch. The report says which
// ("batchnorm": "per-rank" | "synchronised"). Every rank evaluates the full evaluation split (identical
// models). A failing rank aborts the job; a stop signal (SIGTERM/SIGINT/SIGUSR1 to any rank) does not:
// every rank stops after the same step, rank 0 writes the checkpoint, and all throw `QATPreempted`
// (QATRun+Checkpoints.swift).

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSDistributed
import DQSSCheckpoint

/// An invalid setting or input of a QAT run (the `dqss` commands print it as a usage error).
public struct QATRunError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Everything a QAT run needs (the flags of `dqss qat` / `dqss search --mode qat`, validated).
public struct QATRunSettings {
    public var model: String = "resnet20"
    /// Classes of the model's classifier head (nil: the architecture's own; `ModelZoo.spec(named:numClasses:)`).
    public var numClasses: Int?
    /// Pretrained FP32 weights (.safetensors); nil: a random initialisation from `seed`.
    public var weights: String?
    /// Dataset directory (CIFAR-10: the folder holding manifest.json; or `dqss prepare` shards).
    public var data: String
    public var trainSplit: String = "train"
    public var trainLimit: Int?
    public var split: String = "test"
    public var evalLimit: Int?
    public var epochs: Int = 200
    public var warmupEpochs: Int = 1
    /// The global batch (batch / ranks per rank).
    public var batch: Int = 128
    public var lr: Float = 1e-3
    /// The α/β lr; nil: the schedule's default (1e-2 Adam annealed, 1e-4 SGD paper).
    public var lrTheta: Float?
    /// DQSS search schedule (QATSearchSchedule); nil: annealed for DQSS. Not for a single candidate.
    public var schedule: QATSearchSchedule.Kind?
    /// Annealed schedule: search-phase epochs (nil: half of `epochs`, rounded up) and final temperature (nil: 0.02).
    public var searchEpochs: Int?
    public var temperatureEnd: Double?
    /// Annealed schedule: epochs of uniform-mixture weight training before the search (nil: 0).
    public var mixtureEpochs: Int?
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-4
    /// Epochs after warm-up where both learning rates are multiplied by 0.1.
    public var milestones: [Double] = [100, 200]
    public var bits: Int = 4
    public var firstLast: FirstLastBits = .bits(8)
    public var evalEvery: Int = 1
    public var evalBatch: Int = 200
    public var seed: UInt64 = 0
    /// Quantizer variants (DoReFa weights and rescale, LSQ gradient scale, PACT init and weights).
    public var qat = QATOptions()
    /// Synchronised BatchNorm and warm-up observers under mpirun.
    public var syncBn = false
    /// DQSS: BatchNorm re-estimation images after derivation (nil: the default, 2048 for DQSS, off otherwise).
    public var bnReestimate: Int?
    /// Also evaluate the FP32 network before QAT.
    public var fp32 = false
    public var quiet = false
    public var checkpoints = CheckpointPolicy()
    /// Output directory (QATOutputDirectory.swift): the report, the final network as a checkpoint that
    /// `dqss export --from DIR` reads, and for DQSS assignment.json, the per-layer table and the charts.
    public var out: String?
    /// The command line as typed (recorded in checkpoints).
    public var commandLine = ""

    public init(data: String) { self.data = data }

    /// The BatchNorm mode as reported and recorded in checkpoints.
    public var batchNormMode: String { syncBn ? "synchronised" : "per-rank" }

    /// `bnReestimate` with its default: 2048 images for DQSS with the paper's schedule (its BN statistics
    /// were tracked under the soft mixture: measured +12.7 to +24.1 points, docs/results.md), off for the
    /// annealed schedule (its derive phase trains the derived network's own statistics; re-estimating them on
    /// 2,048 images lowered ResNet-20 from 79.97 to 79.27 %, docs/results.md) and for a uniform candidate.
    public func bnReestimateImages(dqss: Bool) -> Int { bnReestimate ?? (dqss && schedule == .paper ? 2048 : 0) }

    /// How α/β are trained: the annealed default for the DQSS search (method "dqss"); a single candidate has
    /// no α/β, and the schedule settings are refused there (they would silently do nothing).
    public func searchSchedule(method: String) throws -> QATSearchSchedule {
        guard method == "dqss" else {
            if schedule != nil || searchEpochs != nil || temperatureEnd != nil || mixtureEpochs != nil {
                throw QATRunError("--schedule, --search-epochs, --mixture-epochs and --temperature-end apply to dqss search --mode qat, not to qat --method \(method)")
            }
            return .paper
        }
        if schedule == .paper {
            if searchEpochs != nil || temperatureEnd != nil || mixtureEpochs != nil {
                throw QATRunError("--search-epochs, --mixture-epochs and --temperature-end belong to --schedule annealed, not paper")
            }
            return .paper
        }
        let mixture = mixtureEpochs ?? 0
        if !(0...epochs).contains(mixture) {
            throw QATRunError("--mixture-epochs must be in 0...--epochs (\(epochs)) (got \(mixture))")
        }
        if let searchEpochs, !(0...(epochs - mixture)).contains(searchEpochs) {
            throw QATRunError("--search-epochs must be in 0...--epochs minus --mixture-epochs (\(epochs - mixture)) (got \(searchEpochs))")
        }
        if let temperatureEnd, !(temperatureEnd > 0 && temperatureEnd <= 1) {
            throw QATRunError("--temperature-end must be in (0, 1] (got \(temperatureEnd))")
        }
        return .annealed(epochs: epochs, searchEpochs: searchEpochs, temperatureEnd: temperatureEnd ?? 0.02,
                         mixtureEpochs: mixture)
    }

    /// The architecture group's lr: `lrTheta`, else the schedule's default.
    public func thetaLR(method: String) throws -> Float { try lrTheta ?? searchSchedule(method: method).defaultThetaLR }

    /// The trainer's configuration (batch: the global one; a data-parallel run divides it).
    public var configuration: QATConfiguration {
        var c = QATConfiguration(epochs: epochs)
        c.warmupEpochs = warmupEpochs
        c.batchSize = batch
        c.lr = lr
        c.lrTheta = lrTheta ?? 1e-4
        c.momentum = momentum
        c.weightDecay = weightDecay
        c.milestones = milestones
        c.seed = seed
        c.evalEvery = evalEvery
        c.evalBatchSize = evalBatch
        return c
    }
}

/// The loaded model and data of a QAT run: CIFAR-10 records (augmented, index range per rank) or
/// `dqss prepare` shards (ShardImageSource, own shard files per rank).
public struct QATRunInputs {
    public let spec: ModelSpec
    public let model: any UnaryLayer
    public let train: EpochBatchSource
    public let test: any LabeledImageSource
    public let normalizationSource: String

    /// Load the model (or initialise it) and open this rank's training data and the evaluation split.
    public init(_ o: QATRunSettings, log: ProgressLog, communicator: any Communicator = SingleProcess()) throws {
        spec = try ModelZoo.spec(named: o.model, numClasses: o.numClasses)
        let norm: Normalization
        if let w = o.weights {
            (norm, normalizationSource) = try spec.normalization(forWeights: URL(fileURLWithPath: w))
        } else {
            (norm, normalizationSource) = (spec.normalization, spec.normalizationSource)
        }
        let dir = URL(fileURLWithPath: o.data)
        let (rank, ranks) = (communicator.rank, communicator.size)
        if let shards = try ShardImageSource.open(directory: dir, split: o.trainSplit, rank: rank, worldSize: ranks,
                                                  normalization: norm, limit: o.trainLimit) {
            guard shards.imageShape == spec.inputShape else {
                throw QATRunError("\(o.model) expects images \(spec.inputShape); the shards of \(shards.data.directory.path) hold \(shards.imageShape)")
            }
            guard shards.count >= 1 else { throw QATRunError("\(ranks) ranks but too few training images for one each") }
            // Evaluation: every rank reads the whole evaluation split (rank 0 of 1); all compute the same top-1.
            guard var testSet = try ShardImageSource.open(directory: dir, split: o.split, rank: 0, worldSize: 1,
                                                          normalization: norm) else {
                throw QATRunError("\(dir.path): no shards for the evaluation split \"\(o.split)\" (\(dir.path)/\(o.split)/shard-*.h5)")
            }
            if let n = o.evalLimit, n < testSet.count { testSet = ShardImageSource(data: testSet.data, normalization: norm, count: n) }
            train = EpochBatchSource(shards)
            test = testSet
            log.line("train: \(shards.count) images of the shards in \(shards.data.directory.path) (\(shards.data.shardIndices.count) "
                     + "shard file(s) on this rank, no augmentation)\(ranks > 1 ? " per rank, \(ranks) ranks" : ""); "
                     + "evaluation: \(testSet.count) images of \(testSet.data.directory.path)")
        } else {
            guard spec.dataset == "cifar10" else {
                throw QATRunError("\(dir.path): \(o.model) is a \(spec.dataset) model and this directory holds no `dqss prepare` shards "
                                      + "(\(o.trainSplit)/shard-*.h5)")
            }
            var trainSet: CIFAR10Dataset
            if ranks == 1 {
                trainSet = try CIFAR10Dataset(directory: dir, split: o.trainSplit)
            } else if let n = o.trainLimit {
                trainSet = try CIFAR10Dataset(directory: dir, split: o.trainSplit,
                                              range: Sharding.range(count: n, rank: rank, size: ranks))
            } else {
                trainSet = try CIFAR10Dataset(directory: dir, split: o.trainSplit, rank: rank, size: ranks)
            }
            if let n = o.trainLimit, ranks == 1 {
                guard n <= trainSet.count else {
                    throw QATRunError("--train-limit \(n) exceeds the \(trainSet.count) images of split \"\(o.trainSplit)\"")
                }
                trainSet = trainSet.subset(indices: Array(0..<n))
            }
            if ranks > 1 {
                // Equal shards: every rank must run the same number of steps (each step is a collective).
                let shortest = communicator.allreduce(trainSet.count, .min)
                if trainSet.count > shortest { trainSet = trainSet.subset(0..<shortest) }
                if shortest == 0 { throw QATRunError("\(ranks) ranks but too few training images for one each") }
            }
            var testSet = try CIFAR10Dataset(directory: dir, split: o.split)
            if let n = o.evalLimit, n < testSet.count { testSet = testSet.subset(indices: Array(0..<n)) }
            train = EpochBatchSource(cifar: CIFAR10Source(trainSet, normalization: norm, augmentation: Augmentation(seed: o.seed)))
            test = CIFAR10Source(testSet, normalization: norm)
            log.line("train: \(trainSet.count) images of \(o.trainSplit) (augmented)\(ranks > 1 ? " per rank, \(ranks) ranks" : ""); "
                     + "evaluation: \(testSet.count) images of \(o.split)")
        }
        if let w = o.weights {
            model = try spec.load(weights: URL(fileURLWithPath: w))
        } else {
            log.line("no --weights: \(o.model) starts from a random initialisation (seed \(o.seed))")
            model = spec.make(seed: o.seed)
        }
        log.line("normalisation: mean \(norm.mean) std \(norm.std) (\(normalizationSource))")
    }
}


/// The --json output of `dqss qat` and `dqss search --mode qat`.
public struct QATReport: Encodable {
    public var model: String
    public var weights: String?
    public var data: String
    public var method: String
    public var bits: Int
    public var firstLastBits: String
    public var epochs: Int
    public var warmupEpochs: Int
    public var batch: Int
    public var lr: Float
    public var lrTheta: Float
    public var milestones: [Double]
    public var trainSplit: String
    public var trainImages: Int
    public var split: String
    public var testImages: Int
    public var seed: UInt64
    public var threads: Int
    /// The OpenBLAS kernel family that ran (docs/results.md, "Reproducing the figures on another machine").
    public var openblasCore = OpenBLASCore.name
    /// The convolution backend that ran ("onednn" or "im2col"; DQSS_CONV_BACKEND), beside the kernel family.
    public var convBackend: String? = ConvBackend.processDefault.rawValue
    /// MPI ranks (1 without mpirun); `batch` is the global batch, batch / ranks per rank.
    public var ranks: Int = 1
    /// "per-rank": BatchNorm batch statistics are each rank's own; "synchronised" (--sync-bn): the global
    /// batch's, summed over the ranks (on one rank both are the batch's own statistics).
    public var batchnorm: String = "per-rank"
    /// Several ranks: whether every rank ended with bit-identical parameters (checked at the end).
    public var replicasIdentical: Bool?
    public var fp32Top1: Double?
    /// Percent: the uniform candidate's, or the derived (argmax) DQSS network's (§7.4).
    public var top1: Double
    /// DQSS only: the soft mixture at the end of training.
    public var softTop1: Double?
    /// DQSS with --bn-reestimate: the derived network after re-estimating BatchNorm statistics.
    public var derivedBnTop1: Double?
    /// Training images the BatchNorm re-estimation used (over all ranks).
    public var bnReestimateImages: Int?
    public var history: [QATEpochRecord]
    /// Resumed with a larger --epochs: the --epochs of the earlier legs of the run (nil when never extended).
    public var epochsExtendedFrom: [Int]?
    /// DQSS only: the candidates (branch order), the α/β schedule ("paper", or "annealed (search S epochs,
    /// τ_end T, adam)"), the derived assignment with θ margins, and its layers per candidate.
    public var candidates: [String]?
    public var searchSchedule: String?
    public var assignment: [AssignmentLayer]?
    public var activationCounts: [String: Int]?
    public var weightCounts: [String: Int]?
    /// With --out: the final network's checkpoint and the top-1 of exactly that network (the derived network
    /// after BatchNorm re-estimation when --bn-reestimate ran, since the re-estimated statistics are the ones saved).
    public var network: String?
    public var networkTop1: Double?
    public var seconds: Double
}


/// What `finish` (DQSS) gets after training: the test data, the trainer, and the BatchNorm re-estimation
/// of --bn-reestimate (nil when off; returns the number of training images used over all ranks).
public struct QATFinishContext {
    public let test: any LabeledImageSource
    public let trainer: QATTrainer
    public let reestimateBatchNorm: (() throws -> Int)?
}

/// What `finish` reports: the final top-1 (derived for DQSS), the soft mixture's, the derived network's
/// after BatchNorm re-estimation, and the assignment.
public struct QATFinishResult {
    public var top1: Double
    public var softTop1: Double?
    public var reestimatedTop1: Double?
    public var reestimateImages: Int?
    /// DQSS: the derived assignment (candidates in branch order, the α/β schedule, per-layer choices with θ margins).
    public var candidates: [String]?
    public var searchSchedule: String?
    public var assignment: [AssignmentLayer]?

    public init(top1: Double, softTop1: Double? = nil, reestimatedTop1: Double? = nil, reestimateImages: Int? = nil) {
        self.top1 = top1; self.softTop1 = softTop1; self.reestimatedTop1 = reestimatedTop1
        self.reestimateImages = reestimateImages
    }
}

/// `dqss qat` and `dqss search --mode qat` as a library call (see the file header).
public enum QATRun {
    /// Build the network with `install`, train it (with checkpoints by `o.checkpoints`), and report. `finish`
    /// (DQSS) evaluates and reports after training; the default reports the last evaluation. Every rank returns
    /// the report (only rank 0 should print it). A coordinated stop throws `QATPreempted` on every rank.
    public static func run<Network: QATNetwork>(_ o: QATRunSettings, method: String, communicator comm: any Communicator,
            install: (any UnaryLayer) throws -> Network,
            finish: ((Network, QATFinishContext) throws -> QATFinishResult)?) throws -> QATReport {
    if finish == nil, let n = o.bnReestimate, n > 0 {
        throw QATRunError("--bn-reestimate applies to the DQSS mixture (dqss search --mode qat), not to a uniform \(method) run")
    }
    let log = ProgressLog(quiet: o.quiet || comm.rank != 0)
    let start = Date()
    guard o.batch % comm.size == 0 else {
        throw QATRunError("--batch \(o.batch) (the global batch) is not divisible by the \(comm.size) ranks")
    }
    let inputs = try QATRunInputs(o, log: log, communicator: comm)
    var fp32: Double?
    if o.fp32 {
        let r = try evaluateClassifier(inputs.model, data: inputs.test, batchSize: o.evalBatch)
        fp32 = 100 * r.top1
        log.line(String(format: "FP32: top-1 %.2f %% on %d images", 100 * r.top1, r.count))
    }
    let network = try install(inputs.model)
    log.line("\(o.model) \(method): \(network.quantizedLayers.count) quantized layers, W\(o.bits)A\(o.bits), first/last "
             + "\(o.firstLast.description), \(o.warmupEpochs) warm-up + \(o.epochs) epochs, batch \(o.batch), lr \(o.lr), "
             + "lr-theta \(try o.thetaLR(method: method)), seed \(o.seed)"
             + (method == "dqss" ? ", schedule \(try o.searchSchedule(method: method).description)" : ""))
    var configuration = o.configuration
    configuration.searchSchedule = try o.searchSchedule(method: method)
    configuration.lrTheta = try o.thetaLR(method: method)
    configuration.batchSize = o.batch / comm.size
    let reducer: any GradientReducer
    if comm.size > 1 {
        // Buckets of 1 M floats (4 MB) reduced while backward runs (PyTorch DDP: 25 MB, the first 1 MB).
        let bucketed = BucketedGradientReducer(communicator: comm, bucketElements: 1 << 20)
        bucketed.overlapBackward(of: network.model)
        reducer = bucketed
    } else {
        reducer = SingleProcessReducer()
    }
    if comm.size > 1 {
        // Every replica starts from rank 0's parameters (they are loaded/initialised alike; this makes it so).
        for p in network.model.namedParameters() {
            comm.broadcast(UnsafeMutableRawPointer(p.parameter.value.data), bytes: p.parameter.value.count * 4, root: 0)
        }
        var bn = "BatchNorm statistics per rank"
        if o.syncBn {
            let layers = SynchronisedBatchNorm.install(CommunicatorStatisticsReducer(communicator: comm), in: network.model)
            // The warm-up observers too: the observing forward quantizes layer after layer with what it has
            // seen, so per-rank observations would change every later layer's input (TensorStatistics.swift).
            network.setObservationReducer(CommunicatorObservationReducer(communicator: comm))
            bn = "BatchNorm and warm-up observers synchronised over the ranks (\(layers) BN layers, 3 allreduces each per step)"
        }
        log.line("data parallel: \(comm.size) ranks, global batch \(o.batch) = \(configuration.batchSize) per rank, \(bn); "
                 + "gradients allreduced in 4 MB buckets while backward runs")
    }
    let trainer = QATTrainer(network: network, configuration: configuration,
                             trainData: inputs.train, testData: inputs.test,
                             reducer: reducer, log: log)
    // The checkpoints' task: a DQSS search's weights make sense only with its assignment (export refuses them alone).
    let task = method == "dqss" ? "search-qat" : "qat"
    let extendedFrom = try runCheckpointed(trainer, o, task: task, method: method,
                                           log: log, communicator: comm)
    var result = try QATFinishResult(top1: trainer.history.last?.testTop1
                                     ?? 100 * evaluateClassifier(inputs.model, data: inputs.test, batchSize: o.evalBatch).top1)
    if let finish {
        let images = o.bnReestimateImages(dqss: true)
        let reestimate = images > 0 ? {
            try reestimateBatchNorm(network.model, images: images, trainer: trainer, syncBn: o.syncBn, communicator: comm)
        } : nil
        result = try finish(network, QATFinishContext(test: inputs.test, trainer: trainer, reestimateBatchNorm: reestimate))
    }
    let report = QATReport(model: o.model, weights: o.weights, data: o.data, method: method, bits: o.bits,
                           firstLastBits: o.firstLast.description, epochs: o.epochs, warmupEpochs: o.warmupEpochs,
                           batch: o.batch, lr: o.lr, lrTheta: try o.thetaLR(method: method), milestones: o.milestones,
                           trainSplit: o.trainSplit, trainImages: inputs.train.count * comm.size, split: o.split,
                           testImages: inputs.test.count, seed: o.seed, threads: Threads.count, ranks: comm.size,
                           batchnorm: o.batchNormMode, fp32Top1: fp32,
                           top1: result.top1, softTop1: result.softTop1, derivedBnTop1: result.reestimatedTop1,
                           bnReestimateImages: result.reestimateImages, history: trainer.history,
                           candidates: result.candidates, searchSchedule: result.searchSchedule, assignment: result.assignment,
                           seconds: Date().timeIntervalSince(start))
    var out = report
    if let layers = result.assignment, let candidates = result.candidates {
        out.activationCounts = AssignmentLayer.counts(layers.map(\.activation), candidates: candidates)
        out.weightCounts = AssignmentLayer.counts(layers.map(\.weight), candidates: candidates)
    }
    if !extendedFrom.isEmpty { out.epochsExtendedFrom = extendedFrom }
    if let dir = o.out {
        // Every rank builds the checkpoint (its collectives are every rank's); rank 0 writes.
        let checkpoint = try qatCheckpoint(trainer, o, task: task,
                                           config: try qatCheckpointConfig(o, method: method, extendedFrom: extendedFrom),
                                           communicator: comm)
        let directory = URL(fileURLWithPath: dir)
        out.network = directory.appendingPathComponent(CheckpointDirectory.finalNetworkName).path
        out.networkTop1 = result.reestimatedTop1 ?? result.top1
        if comm.rank == 0 { try out.write(to: directory, network: checkpoint, log: log) }
    }
    if comm.size > 1 {
        // The replicas must agree bit for bit: compare a checksum of every parameter's bits over ranks
        // (weights, BN, and the quantizer parameters and α/β, which live in hooks outside the layer tree).
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for p in network.model.namedParameters() + network.quantizerParameters + network.architectureParameters {
            let v = p.parameter.value
            for i in 0..<v.count { h = (h ^ UInt64(v.data[i].bitPattern)) &* 0x100_0000_01b3 }
        }
        let d = Double(h >> 12)   // 52 bits: exact in a Double
        out.replicasIdentical = comm.allreduce(d, .max) == comm.allreduce(d, .min)
    }
    return out
}
}

/// --bn-reestimate: the first `images / ranks` training images of every rank's shard (the epoch-0
/// augmentation), in batches of the per-rank training batch, through `model` with BatchNorm in train mode
/// (BatchNormRecalibration). Every rank runs the same number of batches (synchronised BN is a collective);
/// with per-rank BN the ranks' running statistics are then averaged so that every replica evaluates the same
/// network. Returns the images used over all ranks.
public func reestimateBatchNorm(_ model: any UnaryLayer, images: Int, trainer: QATTrainer, syncBn: Bool,
                         communicator comm: any Communicator) throws -> Int {
    let shard = comm.size > 1 ? comm.allreduce(trainer.trainData.count, .min) : trainer.trainData.count
    let perRank = max(1, min(images / comm.size, shard))
    let b = trainer.configuration.batchSize
    let batch = Tensor(shape: [0])
    let count = (perRank + b - 1) / b
    trainer.log.line("re-estimating BatchNorm statistics of the derived network on \(perRank * comm.size) training images (\(count) batches per rank)")
    try BatchNormRecalibration.reestimate(model, batchCount: count) { k in
        _ = try trainer.trainData.fill(ArraySlice((k * b)..<min(perRank, (k + 1) * b)), 0, batch)
        return batch
    }
    if !syncBn { SynchronisedBatchNorm.averageRunningStatistics(in: model, communicator: comm) }
    return perRank * comm.size
}
