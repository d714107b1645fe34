// The option groups of the post-training commands: bit widths and calibration (`dqss ptq`,
// `dqss search --mode ptq`, `dqss search --task sr`), the search knobs (both searches), and PTQRunOptions,
// everything `dqss ptq` and `dqss search --mode ptq` share.

import ArgumentParser
import Foundation
import DQSSQuant
import DQSSSearch
import DQSSRun

/// --bits, --weight-bits, --act-bits of the PTQ commands (2...8 bits; the QAT commands take --bits alone,
/// default 4).
struct PTQBitOptions: ParsableArguments {
    @Option(help: "Bit width of weights and activations (PTQ default 8; QAT's --bits defaults to 4).")
    var bits: Int = 8

    @Option(help: "Weight bit width (default: --bits).")
    var weightBits: Int?

    @Option(help: "Activation bit width (default: --bits).")
    var actBits: Int?

    var weight: Int { weightBits ?? bits }
    var activation: Int { actBits ?? bits }

    func validate() throws {
        for (flag, b) in [("--bits", bits), ("--weight-bits", weight), ("--act-bits", activation)] where !(2...8).contains(b) {
            throw ValidationError("\(flag) must be in 2...8 (got \(b))")
        }
    }
}

/// How the PTQ candidates are calibrated.
struct CalibrationOptions: ParsableArguments {
    @Option(help: "Number of calibration images (HR/LR pairs for SR), drawn with --seed.")
    var calib: Int = 256

    @Option(help: "Images per forward pass during calibration (EQ evaluates its grid on such batches).")
    var calibBatch: Int = 64

    @Option(help: "EQ: use only the first M calibration images (default: all).")
    var eqImages: Int?

    @Option(help: "KL target bins for unsigned activations (128, or 256 as pytorch-quantization).")
    var klUnsignedBins: Int = 128

    @Flag(help: "Quantize every activation as signed (TensorRT INT8); default: unsigned after ReLU.")
    var signedActivations = false

    @Option(help: "Weight thresholds per tensor (the paper) or per output channel (TensorRT, ONNX QDQ per-axis): tensor, channel. Every candidate applies its rule to each channel; EQ searches each channel on its own output.")
    var weightGranularity: WeightGranularity = .tensor

    @Option(help: "AdaRound candidates: iterations per layer (10,000 = AIMET's and the paper's default).")
    var adaroundIterations: Int = 10_000

    @Option(help: "AdaRound candidates: calibration images per iteration (32).")
    var adaroundBatch: Int = 32

    func validate() throws {
        try requireAtLeast(1, "--calib", calib)
        try requireAtLeast(0, "--adaround-iterations", adaroundIterations)
        try requireAtLeast(1, "--adaround-batch", adaroundBatch)
        try requireAtLeast(1, "--calib-batch", calibBatch)
        try requireAtLeast(1, "--eq-images", eqImages)
        if ![128, 256].contains(klUnsignedBins) {
            throw ValidationError("--kl-unsigned-bins must be 128 or 256 (got \(klUnsignedBins))")
        }
    }

    /// The calibration settings at `bits`.
    func settings(_ bits: PTQBitOptions) -> PTQSettings {
        var s = PTQSettings(weightBits: bits.weight, activationBits: bits.activation, signedActivations: signedActivations,
                            eqMaxImages: eqImages, klUnsignedBins: klUnsignedBins, weightGranularity: weightGranularity)
        s.adaRound.iterations = adaroundIterations
        s.adaRound.batch = adaroundBatch
        return s
    }
}

/// The knobs of the DQSS PTQ search (classification and SR): candidates, schedule, α/β optimiser, the §6.2
/// selection and refinement.
struct SearchOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Candidates in branch order (tie-break order), comma-separated: maxabs, kl, easyquant, admm, mse, percentile:P, adaround[:B] (or the labels Max_Abs, KL, EQ, ADMM, MSE, P99.99, AdaRound).",
        discussion: "Any number of them; percentile:P takes P in (0, 100], e.g. percentile:99.99 (a bare 'percentile' is 99.99)."),
            transform: PTQCandidates.parse)
    var candidates: PTQCandidates = PTQCandidates(PTQMethod.paperCandidates)

    @Option(help: "Search schedule: annealed (§6.2, default) or paper (§6: 3 SGD steps at lr 1e-4).")
    var schedule: SearchSchedule = .annealed

    @Option(help: "alpha/beta optimiser: sgd or adam (default: the schedule's: paper sgd, annealed adam).")
    var optimizer: SearchOptimizer?

    @Option(help: "Learning rate of alpha/beta (default: the schedule's), as `dqss search --mode qat --lr-theta`.")
    var lrTheta: Float?

    @Option(help: "SGD momentum.")
    var momentum: Float = 0.9

    @Option(help: "Search epochs over the calibration images (default: the schedule's).")
    var searchEpochs: Int?

    @Option(help: "Search batch size (default: the schedule's).")
    var searchBatch: Int?

    @Option(help: "Final softmax temperature of the annealed schedule (default 0.02; 1: no annealing).")
    var temperatureEnd: Double?

    @Flag(help: ArgumentHelp("Annealed schedule: fix the most decisive layer sides to their argmax progressively during the search (a linear share of them after every step, all by its end); off by default.",
                             discussion: "The rest of the search then adapts to the fixed choices (issue 18; measured in docs/results.md)."))
    var progressiveFixing = false

    @Flag(help: ArgumentHelp("Annealed schedule: straight-through Gumbel sampling, each step's forward runs one sampled one-hot network and the gradient flows through the relaxed sample; off by default.",
                             discussion: "The search's loss then sees a discrete assignment, as the derived network is (issue 18; measured in docs/results.md)."))
    var gumbelStraightThrough = false

    @Option(help: "Held-out validation images (HR/LR pairs for SR) for the §6.2 selection and refinement, disjoint from the calibration images; 0 disables both (default: 1000; 256 for SR).")
    var valImages: Int?

    @Option(help: "Greedy refinement passes over the layers (§6.2); 0: selection only.")
    var refinePasses: Int = 1

    @Option(help: ArgumentHelp("Where the greedy refinement starts: best (the start with the lowest validation score among the search's derived network and the uniform candidates), both (the derived network and the best uniform candidate, keeping the lower refined score), or all (those two and the sensitivity selection).",
                               discussion: "Default all: a start's score before refinement does not say which start refines further, and the sensitivity selection's refinement won on some networks (docs/results.md); the cost is two more refinements and one sensitivity pass, none when the peers run."))
    var refineFrom: RefinementStarts = .all

    @Option(name: .customLong("temperature"), help: .hidden)
    var deprecatedTemperature: Double?

    @Option(name: .customLong("lr"), help: .hidden)
    var deprecatedLR: Float?

    @Option(name: .customLong("epochs"), help: .hidden)
    var deprecatedEpochs: Int?

    /// --temperature-end, or its old spelling --temperature.
    var finalTemperature: Double? { temperatureEnd ?? deprecatedTemperature }
    /// --lr-theta, or its old spelling --lr (in `dqss search --mode qat`, --lr is the network's rate).
    var thetaLR: Float? { lrTheta ?? deprecatedLR }
    /// --search-epochs, or its old spelling --epochs (in the training commands, --epochs trains the network).
    var epochs: Int? { searchEpochs ?? deprecatedEpochs }

    func validate() throws {
        let temperatureFlag = try DeprecatedSpelling.resolve(old: "--temperature", deprecatedTemperature,
                                                             new: "--temperature-end", temperatureEnd)
        if let t = finalTemperature, !(t > 0 && t <= 1) {
            throw ValidationError("\(temperatureFlag) must be in (0, 1] (got \(t))")
        }
        let lrFlag = try DeprecatedSpelling.resolve(old: "--lr", deprecatedLR, new: "--lr-theta", lrTheta)
        if let lr = thetaLR, !(lr >= 0 && lr.isFinite) { throw ValidationError("\(lrFlag) must be a finite number >= 0 (got \(lr))") }
        let epochsFlag = try DeprecatedSpelling.resolve(old: "--epochs", deprecatedEpochs, new: "--search-epochs", searchEpochs)
        try requireAtLeast(1, epochsFlag, epochs)
        // nan compares false with everything: written so that NaN and ±Inf fail the range check.
        if !(momentum >= 0 && momentum < 1) { throw ValidationError("--momentum must be in [0, 1) (got \(momentum))") }
        try requireAtLeast(1, "--search-batch", searchBatch)
        try requireAtLeast(0, "--val-images", valImages)
        try requireAtLeast(0, "--refine-passes", refinePasses)
        // The annealed schedule's own variants; the paper schedule would silently ignore them.
        for (on, flag) in [(progressiveFixing, "--progressive-fixing"), (gumbelStraightThrough, "--gumbel-straight-through")]
        where on && schedule == .paper {
            throw ValidationError("\(flag) applies to the annealed schedule only (got --schedule paper)")
        }
    }

    /// The settings of a search with `schedule`, every default of that schedule overridden by the flags.
    func settings(_ schedule: SearchSchedule, seed: UInt64) -> PTQSearchSettings {
        var s = PTQSearchSettings.defaults(schedule)
        if let epochs { s.epochs = epochs }
        if let searchBatch { s.batchSize = searchBatch }
        if let thetaLR { s.lr = thetaLR }
        if let finalTemperature, schedule == .annealed { s.temperatureEnd = finalTemperature }
        if schedule == .annealed {
            s.progressiveFixing = progressiveFixing
            s.gumbelStraightThrough = gumbelStraightThrough
        }
        if let optimizer { s.optimizer = optimizer }
        s.momentum = momentum
        s.seed = seed
        return s
    }
}

/// Everything `dqss ptq` and `dqss search --mode ptq` share: the model, the data and the evaluation, the
/// bit widths and the calibration, the seed, threads and the output.
struct PTQRunOptions: ParsableArguments {
    @OptionGroup var network: NetworkOptions
    @OptionGroup var head: HeadOptions
    @OptionGroup var data: DataOptions
    @OptionGroup var evaluation: InferenceOptions
    @OptionGroup var bits: PTQBitOptions
    @OptionGroup var calibration: CalibrationOptions

    @Option(help: "Split the calibration images are drawn from.")
    var calibSplit: String = "train"

    @Option(help: "Seed of the calibration-image draw (and of a search's validation draw and batch order).")
    var seed: UInt64 = 0

    @OptionGroup var threading: ThreadOptions
    @OptionGroup var output: TableOutputOptions

    var ptqSettings: PTQSettings { calibration.settings(bits) }
}
