// The flags shared by `dqss qat` (one QAT candidate) and `dqss search --mode qat` (DQSS over the four),
// their check, and the call into DQSSRun's QATRun (data, model, training, checkpoints: QATRun.swift and
// QATRun+Checkpoints.swift there) with the report printed by rank 0 (text, --json, --markdown).
//
// `--batch` is the GLOBAL batch under mpirun (batch/R per rank); `--sync-bn` synchronises BatchNorm and the
// warm-up observers over the ranks; a stop signal to any rank stops every rank after the same step, rank 0
// writes the checkpoint and all exit 75.

import ArgumentParser
import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSDistributed
import DQSSRun

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

    /// The validated flags as the library's settings (DQSSRun).
    var settings: QATRunSettings {
        get throws {
            var s = QATRunSettings(data: data)
            s.model = model
            s.weights = weights
            s.trainSplit = trainSplit
            s.trainLimit = trainLimit
            s.split = split
            s.evalLimit = evalLimit
            s.epochs = epochs
            s.warmupEpochs = warmupEpochs
            s.batch = batch
            s.lr = lr
            s.lrTheta = lrTheta
            s.schedule = schedule.flatMap(QATSearchSchedule.Kind.init(rawValue:))
            s.searchEpochs = searchEpochs
            s.temperatureEnd = temperatureEnd
            s.momentum = momentum
            s.weightDecay = weightDecay
            s.milestones = try milestoneEpochs
            s.bits = bits
            s.firstLast = try firstLast
            s.evalEvery = evalEvery
            s.evalBatch = evalBatch
            s.seed = seed
            s.qat = try qatOptions
            s.syncBn = syncBn
            s.bnReestimate = bnReestimate
            s.fp32 = fp32
            s.quiet = quiet
            s.checkpoints = checkpoints.policy
            s.commandLine = quotedCommandLine()
            return s
        }
    }
}

extension QATReport {
    /// Text, JSON or a Markdown row on stdout.
    func print(json: Bool, markdown: Bool) throws {
        if json {
            try printJSON()
        } else if markdown {
            let f = { (v: Double?) in v.map { String(format: "%.2f", $0) } ?? "" }
            Swift.print("| \(model) | \(method) | W\(bits)A\(bits) | \(f(fp32Top1)) | \(f(top1)) | \(f(softTop1)) | \(f(derivedBnTop1)) | "
                        + String(format: "%.0f s", seconds) + " |")
        } else {
            if let fp32Top1 { Swift.print(String(format: "%@ FP32 on %@: top-1 %.2f %%", model, split, fp32Top1)) }
            if let softTop1 { Swift.print(String(format: "%@ %@ W%dA%d soft mixture on %@: top-1 %.2f %%", model, method, bits, bits, split, softTop1)) }
            Swift.print(String(format: "%@ %@ W%dA%d%@ on %@: top-1 %.2f %% (%d epochs, %d training images, %.0f s)",
                               model, method, bits, bits, softTop1 == nil ? "" : " derived", split, top1, epochs, trainImages, seconds))
            if let derivedBnTop1, let bnReestimateImages {
                Swift.print(String(format: "%@ %@ W%dA%d derived, BatchNorm re-estimated on %d training images, on %@: top-1 %.2f %%",
                                   model, method, bits, bits, bnReestimateImages, split, derivedBnTop1))
            }
            if let candidates, let activationCounts, let weightCounts {
                Swift.print("assignment (activations / weights per candidate \(candidates.joined(separator: ", "))): "
                            + "\(candidates.map { activationCounts[$0] ?? 0 }) / \(candidates.map { weightCounts[$0] ?? 0 })")
            }
        }
    }
}

/// Run `QATRun` on every rank (RankedRun) and print rank 0's report. A coordinated stop exits 75 on every
/// rank; an invalid input is reported as a usage error.
func runQAT<Network: QATNetwork>(_ o: QATRunOptions, method: String,
                                 install: (any UnaryLayer) throws -> Network,
                                 finish: ((Network, QATFinishContext) throws -> QATFinishResult)? = nil) throws {
    do {
        try RankedRun.run { comm in
            o.threading.apply()
            let report = try QATRun.run(try o.settings, method: method, communicator: comm, install: install, finish: finish)
            if comm.rank == 0 { try report.print(json: o.json, markdown: o.markdown) }
        }
    } catch is QATPreempted {
        throw ExitCode.preempted   // every rank, after rank 0's checkpoint: MPI_Finalize at exit, status 75
    } catch let e as QATRunError {
        throw ValidationError(e.description)
    }
}
