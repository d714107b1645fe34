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
    @Option(help: "Model name (a zoo model: a CIFAR-10 one on CIFAR-10 records, any on `dqss prepare` shards).")
    var model: String

    @Option(help: "Pretrained FP32 weights (.safetensors; mean/std from <weights>.json beside it). Without it the network starts from a random initialisation.")
    var weights: String?

    @OptionGroup var head: HeadOptions
    @OptionGroup var data: DataOptions

    @Option(help: "Split to train on.")
    var trainSplit: String = "train"

    @Option(help: "Use only the first N training images.")
    var trainLimit: Int?

    @OptionGroup var evaluation: EvaluationOptions

    @Option(help: "Evaluate every N epochs (0: only after the last).")
    var evalEvery: Int = 1

    @Option(help: "Training epochs after the warm-up (the paper: 200).")
    var epochs: Int = 200

    @Option(help: "Warm-up (observation) epochs before training (§7.3).")
    var warmupEpochs: Int = 1

    @Option(help: "Training batch size (the global batch under mpirun).")
    var batch: Int = 128

    @Option(help: "Learning rate of the network group: weights, BN, quantizer parameters.")
    var lr: Float = 1e-3

    @Option(help: "Learning rate of the architecture group (DQSS alpha/beta; default: 1e-2 Adam with --schedule annealed, 1e-4 SGD with --schedule paper).")
    var lrTheta: Float?

    @Option(help: "DQSS only: annealed (default: Adam on alpha/beta, softmax temperature annealed to --temperature-end over the search epochs, then the derived network alone is trained) or paper (§7: SGD, temperature 1, derived after training).")
    var schedule: QATSearchSchedule.Kind?

    @Option(help: "DQSS annealed schedule: training epochs of the search phase; the rest train the derived network (default: half of --epochs, rounded up).")
    var searchEpochs: Int?

    @Option(help: "DQSS annealed schedule: final softmax temperature of the search phase (default 0.02).")
    var temperatureEnd: Double?

    @Option(help: "DQSS annealed schedule: training epochs before the search phase in which the weights train under the uniform mixture (temperature 1, alpha/beta frozen), as the paper's schedule does throughout (default 0).")
    var mixtureEpochs: Int?

    @Option(help: "SGD momentum (both groups).")
    var momentum: Float = 0.9

    @Option(help: "L2 weight decay on conv/linear weights and PACT clips.")
    var weightDecay: Float = 5e-4

    @Option(help: "Comma-separated epochs (after warm-up) where both learning rates are multiplied by 0.1 (empty: none).")
    var milestones = Milestones([100, 200])

    @Option(help: "Bit width of weights and activations of the inner layers (QAT default 4; the PTQ commands' --bits defaults to 8).")
    var bits: Int = 4

    @Option(help: "Bit width of the first conv and the classifier: a number in 2...16, or fp32 (not quantized).")
    var firstLastBits: FirstLastBits = .bits(8)

    @Option(help: "Seed of the batch order, augmentation and (without --weights) the initialisation.")
    var seed: UInt64 = 0

    @Option(help: "DoReFa weights: symmetric (default) or original (16 levels without zero).")
    var dorefaWeights: DoReFaWeights = .symmetric

    @Option(help: "DoReFa weight rescale by max|W|: on or off.")
    var dorefaRescale: OnOff = .on

    @Option(help: "LSQ gradient scale N: features (per sample) or batch (whole tensor, MQBench).")
    var lsqGradN: LSQGradientN = .features

    @Option(help: "PACT activation clip init (default: the observed max during warm-up).")
    var pactInit: Float?

    @Option(help: "PACT weight branch: clip (own learnable clip) or dorefa (paper/MQBench).")
    var pactWeights: PACTWeights = .clip

    @Flag(help: "Under mpirun: synchronised BatchNorm (statistics of the global batch, three small allreduces per BN layer per step) and warm-up observers instead of per-rank statistics. No effect on one rank.")
    var syncBn = false

    @Option(help: "DQSS (search --mode qat): after derivation, also re-estimate every BatchNorm's running statistics on this many training images (forward only, no update; at most every training image) and evaluate the derived network again. 0 = off (§7.4 as printed). Default: 2048 with --schedule paper (its BN statistics were tracked under the mixture), 0 with the annealed schedule (the derived network trained its own). The plain derived network is reported either way.")
    var bnReestimate: Int?

    @Flag(help: "Also evaluate the FP32 network before QAT.")
    var fp32 = false

    @Option(help: "Write into this directory the final network (network.h5: what `dqss export --from DIR` exports), the report (search.json / qat.json), and for DQSS assignment.json, layers.md, figure4.svg, theta.svg; loss.svg and top1.svg for both.")
    var out: String?

    @OptionGroup var threading: ThreadOptions
    @OptionGroup var output: TableOutputOptions

    @OptionGroup(title: "Checkpoints")
    var checkpoints: CheckpointOptions

    var qatOptions: QATOptions {
        var o = QATOptions()
        o.dorefaOriginalWeights = dorefaWeights == .original
        o.dorefaRescale = dorefaRescale == .on
        o.lsqGradientPerBatch = lsqGradN == .batch
        o.pactDoReFaWeights = pactWeights == .dorefa
        o.pactInit = pactInit
        return o
    }

    func validate() throws {
        try requireAtLeast(0, "--epochs", epochs)
        try requireAtLeast(0, "--warmup-epochs", warmupEpochs)
        try requireAtLeast(1, "--batch", batch)
        if !(lr > 0) || !lr.isFinite { throw ValidationError("--lr must be positive (got \(lr))") }
        if let lrTheta, !(lrTheta >= 0 && lrTheta.isFinite) { throw ValidationError("--lr-theta must be a finite number >= 0 (got \(lrTheta))") }
        // nan compares false with everything: written so that NaN and ±Inf fail the range check.
        if !(momentum >= 0 && momentum < 1) { throw ValidationError("--momentum must be in [0, 1) (got \(momentum))") }
        if !(weightDecay >= 0 && weightDecay.isFinite) { throw ValidationError("--weight-decay must be a finite number >= 0 (got \(weightDecay))") }
        if !(2...16).contains(bits) { throw ValidationError("--bits must be in 2...16 (got \(bits))") }
        try requireAtLeast(1, "--train-limit", trainLimit)
        try requireAtLeast(0, "--eval-every", evalEvery)
        try requireAtLeast(0, "--bn-reestimate", bnReestimate, unit: " images")
        if let pactInit, !(pactInit > 0 && pactInit.isFinite) { throw ValidationError("--pact-init must be a finite positive number (got \(pactInit))") }
    }

    /// The validated flags as the library's settings (DQSSRun).
    var settings: QATRunSettings {
        var s = QATRunSettings(data: data.data)
        (s.model, s.numClasses, s.weights, s.seed) = (model, head.numClasses, weights, seed)
        // Data and evaluation.
        (s.trainSplit, s.trainLimit) = (trainSplit, trainLimit)
        (s.split, s.evalLimit, s.evalBatch, s.evalEvery) = (evaluation.split, evaluation.evaluationLimit, evaluation.batch, evalEvery)
        // Schedule and optimiser.
        (s.epochs, s.warmupEpochs, s.batch, s.milestones) = (epochs, warmupEpochs, batch, milestones.epochs)
        (s.lr, s.lrTheta, s.momentum, s.weightDecay) = (lr, lrTheta, momentum, weightDecay)
        (s.schedule, s.searchEpochs, s.temperatureEnd, s.mixtureEpochs) = (schedule, searchEpochs, temperatureEnd, mixtureEpochs)
        // Quantization, BatchNorm, what else to evaluate.
        (s.bits, s.firstLast, s.qat) = (bits, firstLastBits, qatOptions)
        (s.syncBn, s.bnReestimate, s.fp32) = (syncBn, bnReestimate, fp32)
        (s.quiet, s.checkpoints, s.commandLine) = (output.quiet, checkpoints.policy, quotedCommandLine())
        s.out = out
        return s
    }

    /// Before the run, on rank 0: the head against the data, and the warning of a missing weights manifest.
    func checkModel() throws {
        let spec = try head.spec(named: model)
        if let weights { _ = try spec.normalizationWarning(forWeights: URL(fileURLWithPath: weights)) }
        try spec.checkHead(data: data.data, split: trainSplit)
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
            if comm.rank == 0 {
                try o.checkModel()
                if let out = o.out { try prepareOutputDirectory(out) }   // an unwritable --out fails now, not after training
            }
            let report = try QATRun.run(o.settings, method: method, communicator: comm, install: install, finish: finish)
            if comm.rank == 0 { try report.print(json: o.output.json, markdown: o.output.markdown) }
        }
    } catch is QATPreempted {
        throw ExitCode.preempted   // every rank, after rank 0's checkpoint: MPI_Finalize at exit, status 75
    } catch let e as QATRunError {
        throw ValidationError(e.description)
    }
}
