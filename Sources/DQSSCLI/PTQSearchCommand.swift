// `dqss search --mode ptq`: the DQSS search for post-training quantization of a classifier
// (ALGORITHMS.md §6, §6.1, §6.2), run by PTQSearchRun. The flags; every knob of the search is one.
//
//   dqss search --mode ptq --model resnet20 --weights akamaster_resnet20.safetensors --data ../shared/datasets/cifar10 \
//       [--candidates maxabs,kl,easyquant,admm[,mse,percentile:P]] [--bits 8 | --weight-bits B --act-bits B] [--split test-jpeg] \
//       [--schedule annealed|paper] [--also-paper] [--optimizer adam|sgd] [--lr-theta X] [--search-epochs N] [--search-batch N] \
//       [--temperature-end TAU_END] [--search-loss ce|kd] [--val-images 1000] [--val-jpeg-quality Q] [--select-images N] [--refine-significance Z] [--refine-passes 1] [--refine-from all|both|best] \
//       [--num-classes N] [--peers none|all|greedy,sensitivity,sensitivity-greedy] [--out DIR] [--json | --markdown]

import ArgumentParser
import Foundation
import DQSSTensor
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSDistributed
import DQSSRun

struct PTQSearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "DQSS search --mode ptq: per-layer choice among PTQ candidates for activations and weights (§6, §6.2).",
        discussion: "Models: \(ModelZoo.names.joined(separator: ", ")).")

    @Option(help: "Search mode: ptq.") var mode: SearchMode = .ptq
    @OptionGroup var options: PTQRunOptions
    @OptionGroup var search: SearchOptions
    @Flag(help: "Also run the paper schedule (§6) from the same thresholds and report its derived network as a separate row.")
    var alsoPaper = false
    @Option(help: "Search loss: ce (cross-entropy with the calibration labels) or kd (KL to the FP32 network's softmax, label-free).")
    var searchLoss: SearchLoss = .ce
    @Option(help: "Write assignment.json, search.json, figure4.svg (layers per strategy), theta.svg (θ per layer), top1.svg (every row) and loss.svg (search loss per step) into this directory.") var out: String?
    @Option(help: ArgumentHelp("Peer rows from the same thresholds: none, all, or a list of greedy (greedy refinement from the best uniform candidate), sensitivity (first-order sensitivity-score selection), sensitivity-greedy (greedy refinement from it).",
                               discussion: "Default all: the sensitivity row costs one backward pass, each greedy row about one DQSS refinement (a validation pass per tried change); without them a report cannot say what the search adds. Needs --val-images > 0."))
    var peers: SearchPeers = SearchPeers(SearchPeer.allCases)
    @Option(help: ArgumentHelp("JPEG quality (1-100) the held-out validation images go through (encode and decode) before the §6.2 selection and refinement score them.",
                               discussion: "For networks whose inputs arrive as JPEG (such as CIFAR-10 test-jpeg): the choices are then fitted to JPEG-decoded images. Calibration images stay lossless. Default: none (lossless)."))
    var valJpegQuality: Int?
    @Option(help: ArgumentHelp("Further held-out images, disjoint from the validation images, that choose between the refined networks (--refine-from all/both) by the same KL score; the peers' networks are scored on them too, for the report.",
                               discussion: "Each refinement keeps the trials that lower its score on the validation images, so its final score there is biased low and two refinements' scores do not rank them fairly; images neither saw do. Drawn after the validation images; through JPEG with --val-jpeg-quality. Default 0: compare on the validation images."))
    var selectImages = 0
    @Option(help: ArgumentHelp("Keep a refinement change only when it lowers the validation images' per-image KL by more than Z standard errors (a paired one-sided test).",
                               discussion: "The plain refinement keeps any decrease of the mean score, and over hundreds of trials it fits the validation images themselves. 0 keeps any decrease (as without the flag, scores in Float64). Applies to DQSS's refinements; the greedy peers keep the plain rule. Default: off."))
    var refineSignificance: Double?

    func validate() throws {
        let o = options
        if mode != .ptq { throw ValidationError("--mode \(mode.rawValue): this command runs --mode ptq") }
        if o.calibSplit == o.evaluation.split {
            throw ValidationError("--calib-split and --split are both \"\(o.evaluation.split)\": the test split must never be used for calibration or selection")
        }
        if let q = valJpegQuality {
            if !(1...100).contains(q) { throw ValidationError("--val-jpeg-quality must be in 1...100 (got \(q))") }
            if search.valImages == 0 { throw ValidationError("--val-jpeg-quality needs validation images (--val-images is 0)") }
        }
        if let z = refineSignificance {
            if !(z.isFinite && z >= 0) { throw ValidationError("--refine-significance must be a finite number ≥ 0 (got \(z))") }
            if search.valImages == 0 { throw ValidationError("--refine-significance needs validation images to refine on (--val-images is 0)") }
        }
        if selectImages < 0 { throw ValidationError("--select-images must be ≥ 0 (got \(selectImages))") }
        if selectImages > 0 && search.valImages == 0 {
            throw ValidationError("--select-images needs validation images to refine on (--val-images is 0)")
        }
    }

    func run() throws {
        let o = options
        o.threading.apply()
        var schedules = [search.schedule]
        if alsoPaper && search.schedule != .paper { schedules.insert(.paper, at: 0) }
        var runOptions = PTQSearchOptions(
            model: o.network.model, weights: o.network.weightsURL.path, data: o.data.data, methods: search.candidates.methods,
            ptq: o.ptqSettings, calib: o.calibration.calib, valImages: search.valImages ?? 1000,
            refinePasses: search.refinePasses, seed: o.seed, calibSplit: o.calibSplit, split: o.evaluation.split,
            limit: o.evaluation.limit, batch: o.evaluation.batch, calibBatch: o.calibration.calibBatch,
            searches: schedules.map { search.settings($0, seed: o.seed) }, distillation: searchLoss == .kd,
            out: out, json: o.output.json, markdown: o.output.markdown, quiet: o.output.quiet,
            commandLine: CommandLine.arguments.joined(separator: " "))
        runOptions.numClasses = o.head.numClasses
        runOptions.peers = peers.peers
        runOptions.refineStarts = search.refineFrom
        runOptions.validationJPEGQuality = valJpegQuality
        runOptions.selectionImages = selectImages
        runOptions.refineSignificance = refineSignificance
        try RankedRun.run { comm in
            if comm.rank == 0 {
                if let out = runOptions.out { try prepareOutputDirectory(out) }
                // The head and the manifest before the run: a wrong --num-classes or a missing mean/std is said once.
                let spec = try o.head.spec(named: o.network.model)
                _ = try spec.normalizationWarning(forWeights: o.network.weightsURL)
                try spec.checkHead(data: o.data.data, split: o.calibSplit)
            }
            let report = try PTQSearchRun.search(runOptions, communicator: comm)
            if comm.rank == 0 { try report.emit(runOptions, log: RankLog(communicator: comm, quiet: runOptions.quiet)) }
        }
    }
}
