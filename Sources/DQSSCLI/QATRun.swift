// The shared part of `dqss qat` (one QAT candidate) and `dqss search --mode qat` (DQSS over the four):
// flags, data, the pretrained model, the QATTrainer run, and the report (text, --json, --markdown).
//
// Data: `--train-split` (default train: the 4,660 CIFAR-10 training images of ../shared/datasets), first
// `--train-limit N` images of it, with the CIFAR augmentation (flip + 4-pixel-pad crop, seeded per epoch
// and image); evaluation on `--split` (first `--eval-limit` images), eval-mode BN. When `--data` holds
// `dqss prepare` shards (`<data>/<split>/shard-*.h5`, the ImageNet-scale path, any zoo model), those are
// read instead: each rank opens only its own shard files (ShardImageSource), no augmentation.
// Schedule (ALGORITHMS.md §7.2–7.3): `--warmup-epochs` observation epochs, then `--epochs` of SGD with
// the two groups (network lr `--lr`, α/β lr `--lr-theta`), ×0.1 at `--milestones` (epochs after warm-up).
//
// Under mpirun (DQSSDistributed): `--batch` is the GLOBAL batch; each of the R ranks reads only its
// contiguous shard of the training images (all shards cut to the same length, so every rank runs the
// same number of steps) and trains on batch/R of them per step; gradients and metrics are averaged over
// the ranks (BucketedGradientReducer), the warm-up statistics combined before the quantizers are
// initialised. BatchNorm uses per-rank batch statistics by default; `--sync-bn` makes every BatchNorm2d
// normalise with the global batch's statistics (SynchronisedBatchNorm: three small allreduces per BN layer
// per step) and combines every warm-up observation over the ranks as it is made (an ObservationReducer),
// the only way R ranks reproduce the one-process run of the same global batch. The output
// says which ("batchnorm": "per-rank" | "synchronised"). Every rank evaluates the full evaluation split
// (identical models); only rank 0 prints. A failing rank aborts the job; a stop signal (SIGTERM/SIGINT/
// SIGUSR1 to any rank) does not: every rank stops after the same step, rank 0 writes the checkpoint, and
// all exit 75 (QATRun+Checkpoints.swift).

import ArgumentParser
import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSDistributed

struct QATRunOptions: ParsableArguments {
    @Option(help: "Model name (a CIFAR-10 zoo model).")
    var model: String = "resnet20"

    @Option(help: "Pretrained FP32 weights (.safetensors). Without it the network starts from a random initialisation.")
    var weights: String?

    @Option(help: "Dataset directory (CIFAR-10: the folder holding manifest.json).")
    var data: String

    @Option(help: "Split to train on.")
    var trainSplit: String = "train"

    @Option(help: "Use only the first N training images.")
    var trainLimit: Int?

    @Option(help: "Split to evaluate on.")
    var split: String = "test"

    @Option(help: "Evaluate only the first N images of the split.")
    var evalLimit: Int?

    @Option(help: "Training epochs after the warm-up (the paper: 200).")
    var epochs: Int = 200

    @Option(help: "Warm-up (observation) epochs before training (§7.3).")
    var warmupEpochs: Int = 1

    @Option(help: "Training batch size.")
    var batch: Int = 128

    @Option(help: "Learning rate of the network group: weights, BN, quantizer parameters.")
    var lr: Float = 1e-3

    @Option(help: "Learning rate of the architecture group (DQSS alpha/beta; default: 1e-2 Adam with --schedule annealed, 1e-4 SGD with --schedule paper).")
    var lrTheta: Float?

    @Option(help: "DQSS only: annealed (default: Adam on alpha/beta, softmax temperature annealed to --temperature-end over the search epochs, then the derived network alone is trained) or paper (§7: SGD, temperature 1, derived after training).")
    var schedule: String?

    @Option(help: "DQSS annealed schedule: training epochs of the search phase; the rest train the derived network (default: half of --epochs, rounded up).")
    var searchEpochs: Int?

    @Option(help: "DQSS annealed schedule: final softmax temperature of the search phase (default 0.02).")
    var temperatureEnd: Double?

    @Option(help: "SGD momentum (both groups).")
    var momentum: Float = 0.9

    @Option(help: "L2 weight decay on conv/linear weights and PACT clips.")
    var weightDecay: Float = 5e-4

    @Option(help: "Comma-separated epochs (after warm-up) where both learning rates are multiplied by 0.1.")
    var milestones: String = "100,200"

    @Option(help: "Bit width of weights and activations of the inner layers.")
    var bits: Int = 4

    @Option(help: "Bit width of the first conv and the classifier: a number, or fp32 (not quantized).")
    var firstLastBits: String = "8"

    @Option(help: "Evaluate every N epochs (0: only after the last).")
    var evalEvery: Int = 1

    @Option(help: "Images per forward pass during evaluation.")
    var evalBatch: Int = 200

    @Option(help: "Seed of the batch order, augmentation and (without --weights) the initialisation.")
    var seed: UInt64 = 0

    @Option(help: "DoReFa weights: symmetric (default) or original (16 levels without zero).")
    var dorefaWeights: String = "symmetric"

    @Option(help: "DoReFa weight rescale by max|W|: on or off.")
    var dorefaRescale: String = "on"

    @Option(help: "LSQ gradient scale N: features (per sample) or batch (whole tensor, MQBench).")
    var lsqGradN: String = "features"

    @Option(help: "PACT activation clip init (default: the observed max during warm-up).")
    var pactInit: Float?

    @Option(help: "PACT weight branch: clip (own learnable clip) or dorefa (paper/MQBench).")
    var pactWeights: String = "clip"

    @Flag(help: "Under mpirun: synchronised BatchNorm (statistics of the global batch, three small allreduces per BN layer per step) and warm-up observers instead of per-rank statistics. No effect on one rank.")
    var syncBn = false

    /// The BatchNorm mode as reported and recorded in checkpoints.
    var batchNormMode: String { syncBn ? "synchronised" : "per-rank" }

    @Option(help: "DQSS (search --mode qat): after derivation, also re-estimate every BatchNorm's running statistics on this many training images (forward only, no update; at most every training image) and evaluate the derived network again. 0 = off (§7.4 as printed). Default: 2048 with --schedule paper (its BN statistics were tracked under the mixture), 0 with the annealed schedule (the derived network trained its own). The plain derived network is reported either way.")
    var bnReestimate: Int?

    /// --bn-reestimate with its default: 2048 images for DQSS with the paper's schedule (its BN statistics
    /// were tracked under the soft mixture: measured +12.7 to +24.1 points, docs/results.md), off for the
    /// annealed schedule (its derive phase trains the derived network's own statistics; re-estimating them on
    /// 2,048 images lowered ResNet-20 from 79.97 to 79.27 %, docs/results.md) and for a uniform candidate.
    func bnReestimateImages(dqss: Bool) -> Int { bnReestimate ?? (dqss && schedule == "paper" ? 2048 : 0) }

    @Flag(help: "Also evaluate the FP32 network before QAT.")
    var fp32 = false

    @OptionGroup var threading: ThreadOptions

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    @Flag(help: "Print one Markdown table row on stdout.")
    var markdown = false

    @Flag(help: "No progress on stderr.")
    var quiet = false

    @OptionGroup(title: "Checkpoints")
    var checkpoints: CheckpointOptions

    var firstLast: FirstLastBits {
        get throws {
            guard let f = FirstLastBits(argument: firstLastBits) else {
                throw ValidationError("--first-last-bits must be a bit width in 2...16 or fp32 (got \(firstLastBits))")
            }
            return f
        }
    }

    var milestoneEpochs: [Double] {
        get throws {
            if milestones.trimmingCharacters(in: .whitespaces).isEmpty { return [] }
            return try milestones.split(separator: ",").map {
                guard let v = Double($0.trimmingCharacters(in: .whitespaces)), v >= 0 else {
                    throw ValidationError("--milestones: \"\($0)\" is not a non-negative number of epochs")
                }
                return v
            }
        }
    }

    var qatOptions: QATOptions {
        get throws {
            var o = QATOptions()
            switch dorefaWeights {
            case "symmetric": o.dorefaOriginalWeights = false
            case "original": o.dorefaOriginalWeights = true
            default: throw ValidationError("--dorefa-weights must be symmetric or original (got \(dorefaWeights))")
            }
            switch dorefaRescale {
            case "on": o.dorefaRescale = true
            case "off": o.dorefaRescale = false
            default: throw ValidationError("--dorefa-rescale must be on or off (got \(dorefaRescale))")
            }
            switch lsqGradN {
            case "features": o.lsqGradientPerBatch = false
            case "batch": o.lsqGradientPerBatch = true
            default: throw ValidationError("--lsq-grad-n must be features or batch (got \(lsqGradN))")
            }
            switch pactWeights {
            case "clip": o.pactDoReFaWeights = false
            case "dorefa": o.pactDoReFaWeights = true
            default: throw ValidationError("--pact-weights must be clip or dorefa (got \(pactWeights))")
            }
            o.pactInit = pactInit
            return o
        }
    }

    func validate() throws {
        if epochs < 0 { throw ValidationError("--epochs must be at least 0 (got \(epochs))") }
        if warmupEpochs < 0 { throw ValidationError("--warmup-epochs must be at least 0 (got \(warmupEpochs))") }
        if batch < 1 { throw ValidationError("--batch must be at least 1 (got \(batch))") }
        if !(lr > 0) || !lr.isFinite { throw ValidationError("--lr must be positive (got \(lr))") }
        if let lrTheta, !(lrTheta >= 0 && lrTheta.isFinite) { throw ValidationError("--lr-theta must be a finite number >= 0 (got \(lrTheta))") }
        if let schedule, QATSearchSchedule.Kind(rawValue: schedule) == nil {
            throw ValidationError("--schedule must be annealed or paper (got \(schedule))")
        }
        if let searchEpochs, !(0...epochs).contains(searchEpochs) {
            throw ValidationError("--search-epochs must be in 0...--epochs (\(epochs)) (got \(searchEpochs))")
        }
        if let temperatureEnd, !(temperatureEnd > 0 && temperatureEnd <= 1) {
            throw ValidationError("--temperature-end must be in (0, 1] (got \(temperatureEnd))")
        }
        if schedule == "paper" && (searchEpochs != nil || temperatureEnd != nil) {
            throw ValidationError("--search-epochs and --temperature-end belong to --schedule annealed, not paper")
        }
        // nan compares false with everything: written so that NaN and ±Inf fail the range check.
        if !(momentum >= 0 && momentum < 1) { throw ValidationError("--momentum must be in [0, 1) (got \(momentum))") }
        if !(weightDecay >= 0 && weightDecay.isFinite) { throw ValidationError("--weight-decay must be a finite number >= 0 (got \(weightDecay))") }
        if !(2...16).contains(bits) { throw ValidationError("--bits must be in 2...16 (got \(bits))") }
        if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit must be at least 1 (got \(trainLimit))") }
        if let evalLimit, evalLimit < 1 { throw ValidationError("--eval-limit must be at least 1 (got \(evalLimit))") }
        if evalEvery < 0 { throw ValidationError("--eval-every must be at least 0 (got \(evalEvery))") }
        if evalBatch < 1 { throw ValidationError("--eval-batch must be at least 1 (got \(evalBatch))") }
        if let bnReestimate, bnReestimate < 0 { throw ValidationError("--bn-reestimate must be at least 0 images (got \(bnReestimate))") }
        if let pactInit, !(pactInit > 0 && pactInit.isFinite) { throw ValidationError("--pact-init must be a finite positive number (got \(pactInit))") }
        _ = try firstLast
        _ = try milestoneEpochs
        _ = try qatOptions
    }

    /// How α/β are trained: the annealed default for the DQSS search (method "dqss"), nothing for a single
    /// candidate (the flags are refused there, they would silently do nothing).
    func searchSchedule(method: String) throws -> QATSearchSchedule {
        guard method == "dqss" else {
            if schedule != nil || searchEpochs != nil || temperatureEnd != nil {
                throw ValidationError("--schedule, --search-epochs and --temperature-end apply to dqss search --mode qat, not to qat --method \(method)")
            }
            return .paper
        }
        if schedule == "paper" { return .paper }
        return .annealed(epochs: epochs, searchEpochs: searchEpochs, temperatureEnd: temperatureEnd ?? 0.02)
    }

    /// The architecture group's lr: --lr-theta, else the schedule's default.
    func thetaLR(method: String) throws -> Float { try lrTheta ?? searchSchedule(method: method).defaultThetaLR }

    var configuration: QATConfiguration {
        get throws {
            var c = QATConfiguration(epochs: epochs)
            c.warmupEpochs = warmupEpochs
            c.batchSize = batch
            c.lr = lr
            c.lrTheta = lrTheta ?? 1e-4
            c.momentum = momentum
            c.weightDecay = weightDecay
            c.milestones = try milestoneEpochs
            c.seed = seed
            c.evalEvery = evalEvery
            c.evalBatchSize = evalBatch
            return c
        }
    }
}

/// The loaded model and data of a QAT run: CIFAR-10 records (augmented, index range per rank) or
/// `dqss prepare` shards (ShardImageSource, own shard files per rank).
struct QATRunInputs {
    let spec: ModelSpec
    let model: any UnaryLayer
    let train: EpochBatchSource
    let test: any LabeledImageSource
    let normalizationSource: String

    init(_ o: QATRunOptions, log: ProgressLog, communicator: any Communicator = SingleProcess()) throws {
        spec = try ModelZoo.spec(named: o.model)
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
                throw ValidationError("\(o.model) expects images \(spec.inputShape); the shards of \(shards.data.directory.path) hold \(shards.imageShape)")
            }
            guard shards.count >= 1 else { throw ValidationError("\(ranks) ranks but too few training images for one each") }
            // Evaluation: every rank reads the whole evaluation split (rank 0 of 1); all compute the same top-1.
            guard var testSet = try ShardImageSource.open(directory: dir, split: o.split, rank: 0, worldSize: 1,
                                                          normalization: norm) else {
                throw ValidationError("\(dir.path): no shards for the evaluation split \"\(o.split)\" (\(dir.path)/\(o.split)/shard-*.h5)")
            }
            if let n = o.evalLimit, n < testSet.count { testSet = ShardImageSource(data: testSet.data, normalization: norm, count: n) }
            train = EpochBatchSource(shards)
            test = testSet
            log.line("train: \(shards.count) images of the shards in \(shards.data.directory.path) (\(shards.data.shardIndices.count) "
                     + "shard file(s) on this rank, no augmentation)\(ranks > 1 ? " per rank, \(ranks) ranks" : ""); "
                     + "evaluation: \(testSet.count) images of \(testSet.data.directory.path)")
        } else {
            guard spec.dataset == "cifar10" else {
                throw ValidationError("\(dir.path): \(o.model) is a \(spec.dataset) model and this directory holds no `dqss prepare` shards "
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
                    throw ValidationError("--train-limit \(n) exceeds the \(trainSet.count) images of split \"\(o.trainSplit)\"")
                }
                trainSet = trainSet.subset(indices: Array(0..<n))
            }
            if ranks > 1 {
                // Equal shards: every rank must run the same number of steps (each step is a collective).
                let shortest = communicator.allreduce(trainSet.count, .min)
                if trainSet.count > shortest { trainSet = trainSet.subset(0..<shortest) }
                if shortest == 0 { throw ValidationError("\(ranks) ranks but too few training images for one each") }
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
struct QATReport: Encodable {
    var model: String
    var weights: String?
    var data: String
    var method: String
    var bits: Int
    var firstLastBits: String
    var epochs: Int
    var warmupEpochs: Int
    var batch: Int
    var lr: Float
    var lrTheta: Float
    var milestones: [Double]
    var trainSplit: String
    var trainImages: Int
    var split: String
    var testImages: Int
    var seed: UInt64
    var threads: Int
    /// MPI ranks (1 without mpirun); `batch` is the global batch, batch / ranks per rank.
    var ranks: Int = 1
    /// "per-rank": BatchNorm batch statistics are each rank's own; "synchronised" (--sync-bn): the global
    /// batch's, summed over the ranks (on one rank both are the batch's own statistics).
    var batchNorm: String = "per-rank"
    /// Several ranks: whether every rank ended with bit-identical parameters (checked at the end).
    var replicasIdentical: Bool?
    var fp32Top1: Double?
    /// Percent: the uniform candidate's, or the derived (argmax) DQSS network's (§7.4).
    var top1: Double
    /// DQSS only: the soft mixture at the end of training.
    var softTop1: Double?
    /// DQSS with --bn-reestimate: the derived network after re-estimating BatchNorm statistics.
    var reestimatedTop1: Double?
    /// Training images the BatchNorm re-estimation used (over all ranks).
    var reestimateImages: Int?
    var history: [QATEpochRecord]
    /// Resumed with a larger --epochs: the --epochs of the earlier legs of the run (nil when never extended).
    var epochsExtendedFrom: [Int]?
    var assignment: AssignmentReport?
    var seconds: Double

    struct AssignmentReport: Encodable {
        var candidates: [String]
        /// "annealed" or "paper", the search epochs and final temperature of the schedule.
        var schedule: String
        var activationCounts: [Int]
        var weightCounts: [Int]
        var layers: [Layer]
        struct Layer: Encodable {
            var name: String
            var activation: String
            var weight: String
            var activationThreshold: Float
            var weightThreshold: Float
            var alpha: [Float]
            var beta: [Float]
            /// Top minus second θ at the final temperature: how decisive each choice is.
            var activationMargin: Double
            var weightMargin: Double
            enum CodingKeys: String, CodingKey {
                case name, activation, weight, alpha, beta
                case activationThreshold = "activation_threshold"
                case weightThreshold = "weight_threshold"
                case activationMargin = "activation_margin"
                case weightMargin = "weight_margin"
            }
        }
        enum CodingKeys: String, CodingKey {
            case candidates, layers, schedule
            case activationCounts = "activation_counts"
            case weightCounts = "weight_counts"
        }
    }

    enum CodingKeys: String, CodingKey {
        case model, weights, data, method, bits, epochs, batch, lr, milestones, split, seed, threads, top1, history,
             assignment, seconds
        case firstLastBits = "first_last_bits"
        case warmupEpochs = "warmup_epochs"
        case lrTheta = "lr_theta"
        case trainSplit = "train_split"
        case trainImages = "train_images"
        case testImages = "test_images"
        case fp32Top1 = "fp32_top1"
        case ranks
        case batchNorm = "batchnorm"
        case replicasIdentical = "replicas_identical"
        case softTop1 = "soft_top1"
        case reestimatedTop1 = "derived_bn_top1"
        case reestimateImages = "bn_reestimate_images"
        case epochsExtendedFrom = "epochs_extended_from"
    }

    /// Text, JSON or a Markdown row on stdout.
    func print(json: Bool, markdown: Bool) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            Swift.print(String(decoding: try encoder.encode(self), as: UTF8.self))
        } else if markdown {
            let f = { (v: Double?) in v.map { String(format: "%.2f", $0) } ?? "" }
            Swift.print("| \(model) | \(method) | W\(bits)A\(bits) | \(f(fp32Top1)) | \(f(top1)) | \(f(softTop1)) | \(f(reestimatedTop1)) | "
                        + String(format: "%.0f s", seconds) + " |")
        } else {
            if let fp32Top1 { Swift.print(String(format: "%@ FP32 on %@: top-1 %.2f %%", model, split, fp32Top1)) }
            if let softTop1 { Swift.print(String(format: "%@ %@ W%dA%d soft mixture on %@: top-1 %.2f %%", model, method, bits, bits, split, softTop1)) }
            Swift.print(String(format: "%@ %@ W%dA%d%@ on %@: top-1 %.2f %% (%d epochs, %d training images, %.0f s)",
                               model, method, bits, bits, softTop1 == nil ? "" : " derived", split, top1, epochs, trainImages, seconds))
            if let reestimatedTop1, let reestimateImages {
                Swift.print(String(format: "%@ %@ W%dA%d derived, BatchNorm re-estimated on %d training images, on %@: top-1 %.2f %%",
                                   model, method, bits, bits, reestimateImages, split, reestimatedTop1))
            }
            if let a = assignment {
                Swift.print("assignment (activations / weights per candidate \(a.candidates.joined(separator: ", "))): "
                            + "\(a.activationCounts) / \(a.weightCounts)")
            }
        }
    }
}

/// What `finish` (DQSS) gets after training: the test data, the trainer, and the BatchNorm re-estimation
/// of --bn-reestimate (nil when off; returns the number of training images used over all ranks).
struct QATFinishContext {
    let test: any LabeledImageSource
    let trainer: QATTrainer
    let reestimateBatchNorm: (() throws -> Int)?
}

/// What `finish` reports: the final top-1 (derived for DQSS), the soft mixture's, the derived network's
/// after BatchNorm re-estimation, and the assignment.
struct QATFinishResult {
    var top1: Double
    var softTop1: Double?
    var reestimatedTop1: Double?
    var reestimateImages: Int?
    var assignment: QATReport.AssignmentReport?
}

/// Build the network with `install`, train it, and report. `finish` (DQSS) evaluates and reports after
/// training; the default reports the last evaluation.
func runQAT(_ o: QATRunOptions, method: String,
            install: (any UnaryLayer) throws -> any QATNetwork,
            finish: ((any QATNetwork, QATFinishContext) throws -> QATFinishResult)? = nil) throws {
    do {
        try RankedRun.run { comm in try runQAT(o, method: method, communicator: comm, install: install, finish: finish) }
    } catch is QATPreempted {
        throw ExitCode.preempted   // every rank, after rank 0's checkpoint: MPI_Finalize at exit, status 75
    }
}

func runQAT(_ o: QATRunOptions, method: String, communicator comm: any Communicator,
            install: (any UnaryLayer) throws -> any QATNetwork,
            finish: ((any QATNetwork, QATFinishContext) throws -> QATFinishResult)?) throws {
    o.threading.apply()
    if finish == nil, let n = o.bnReestimate, n > 0 {
        throw ValidationError("--bn-reestimate applies to the DQSS mixture (dqss search --mode qat), not to a uniform \(method) run")
    }
    let log = ProgressLog(quiet: o.quiet || comm.rank != 0)
    let start = Date()
    guard o.batch % comm.size == 0 else {
        throw ValidationError("--batch \(o.batch) (the global batch) is not divisible by the \(comm.size) ranks")
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
             + "\(try o.firstLast.description), \(o.warmupEpochs) warm-up + \(o.epochs) epochs, batch \(o.batch), lr \(o.lr), "
             + "lr-theta \(try o.thetaLR(method: method)), seed \(o.seed)"
             + (method == "dqss" ? ", schedule \(try o.searchSchedule(method: method).description)" : ""))
    var configuration = try o.configuration
    configuration.searchSchedule = try o.searchSchedule(method: method)
    configuration.lrTheta = try o.thetaLR(method: method)
    configuration.batchSize = o.batch / comm.size
    let reducer: any GradientReducer = comm.size > 1 ? BucketedGradientReducer(communicator: comm) : SingleProcessReducer()
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
        log.line("data parallel: \(comm.size) ranks, global batch \(o.batch) = \(configuration.batchSize) per rank, \(bn)")
    }
    let trainer = QATTrainer(network: network, configuration: configuration,
                             trainData: inputs.train, testData: inputs.test,
                             reducer: reducer, log: log)
    let extendedFrom = try runCheckpointed(trainer, o, task: method == "dqss" ? "search-qat" : "qat", method: method,
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
                           firstLastBits: try o.firstLast.description, epochs: o.epochs, warmupEpochs: o.warmupEpochs,
                           batch: o.batch, lr: o.lr, lrTheta: try o.thetaLR(method: method), milestones: try o.milestoneEpochs,
                           trainSplit: o.trainSplit, trainImages: inputs.train.count * comm.size, split: o.split,
                           testImages: inputs.test.count, seed: o.seed, threads: Threads.count, ranks: comm.size,
                           batchNorm: o.batchNormMode, fp32Top1: fp32,
                           top1: result.top1, softTop1: result.softTop1, reestimatedTop1: result.reestimatedTop1,
                           reestimateImages: result.reestimateImages, history: trainer.history, assignment: result.assignment,
                           seconds: Date().timeIntervalSince(start))
    var out = report
    if !extendedFrom.isEmpty { out.epochsExtendedFrom = extendedFrom }
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
    if comm.rank == 0 { try out.print(json: o.json, markdown: o.markdown) }
}

/// --bn-reestimate: the first `images / ranks` training images of every rank's shard (the epoch-0
/// augmentation), in batches of the per-rank training batch, through `model` with BatchNorm in train mode
/// (BatchNormRecalibration). Every rank runs the same number of batches (synchronised BN is a collective);
/// with per-rank BN the ranks' running statistics are then averaged so that every replica evaluates the same
/// network. Returns the images used over all ranks.
func reestimateBatchNorm(_ model: any UnaryLayer, images: Int, trainer: QATTrainer, syncBn: Bool,
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
