// `dqss search --mode ptq`: the DQSS search for post-training quantization of a classifier
// (ALGORITHMS.md §6, §6.1, §6.2), run by PTQSearchRun. The flags; every knob of the search is one.
//
//   dqss search --mode ptq --model resnet20 --weights akamaster_resnet20.safetensors --data ../shared/datasets/cifar10 \
//       [--candidates maxabs,kl,easyquant,admm] [--bits 8 | --weight-bits B --act-bits B] [--split test-jpeg] \
//       [--schedule annealed|paper] [--also-paper] [--optimizer adam|sgd] [--lr X] [--epochs N] [--search-batch N] \
//       [--temperature TAU_END] [--search-loss ce|kd] [--val-images 1000] [--refine-passes 1] [--out DIR] [--json]

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

    @Option(help: "Search mode: ptq.") var mode: String = "ptq"
    @Option(help: "Model name (see the list below).") var model: String
    @Option(help: "Weights file (.safetensors, PyTorch state_dict names).") var weights: String
    @Option(help: "Dataset directory (CIFAR-10: the folder holding manifest.json).") var data: String
    @Option(help: "Candidates in branch order (tie-break order): maxabs, kl, easyquant, admm.")
    var candidates: String = "maxabs,kl,easyquant,admm"
    @Option(help: "Bit width of weights and activations (overridden by --weight-bits / --act-bits).") var bits: Int = 8
    @Option(help: "Weight bit width.") var weightBits: Int?
    @Option(help: "Activation bit width.") var actBits: Int?
    @Option(help: "Number of calibration images (drawn from --calib-split with --seed, as `dqss ptq`).") var calib: Int = 256
    @Option(help: "Held-out validation images for the selection and refinement (§6.2), disjoint from the calibration images; 0 disables both.")
    var valImages: Int = 1000
    @Option(help: "Greedy refinement passes over the layers (§6.2); 0: selection only.") var refinePasses: Int = 1
    @Option(help: "Seed of the calibration/validation draw and of the search's batch order.") var seed: UInt64 = 0
    @Option(help: "Split the calibration and validation images come from (never the test split).") var calibSplit: String = "train"
    @Option(help: "Split every reported top-1 is measured on.") var split: String = "test"
    @Option(help: "Evaluate only the first N images of the split.") var limit: Int?
    @Option(help: "Images per forward pass (evaluation).") var batch: Int = 200
    @Option(help: "Images per forward pass during calibration.") var calibBatch: Int = 64
    @Flag(help: "Quantize every activation as signed (TensorRT INT8); default: unsigned after ReLU.") var signedActivations = false
    @Option(help: "EQ: use only the first M calibration images (default: all).") var eqImages: Int?
    @Option(help: "KL target bins for unsigned activations (128, or 256 as pytorch-quantization).") var klUnsignedBins: Int = 128
    @Option(help: "Search schedule: annealed (§6.2, default) or paper (§6: 3 SGD steps at lr 1e-4).") var schedule: String = "annealed"
    @Flag(help: "Also run the paper schedule (§6) from the same thresholds and report its derived network as a separate row.")
    var alsoPaper = false
    @Option(help: "alpha/beta optimiser: sgd or adam (default: the schedule's: paper sgd, annealed adam).") var optimizer: String?
    @Option(help: "Learning rate of alpha/beta (default: the schedule's).") var lr: Float?
    @Option(help: "SGD momentum.") var momentum: Float = 0.9
    @Option(help: "Search epochs over the calibration images (default: the schedule's).") var epochs: Int?
    @Option(help: "Search batch size (default: the schedule's).") var searchBatch: Int?
    @Option(help: "Final softmax temperature of the annealed schedule (1: no annealing).") var temperature: Double?
    @Option(help: "Search loss: ce (cross-entropy with the calibration labels) or kd (KL to the FP32 network's softmax, label-free).")
    var searchLoss: String = "ce"
    @Option(help: "Write assignment.json, search.json and figure4.svg into this directory.") var out: String?
    @OptionGroup var threading: ThreadOptions
    @Flag(help: "Print one JSON object on stdout.") var json = false
    @Flag(help: "Print one Markdown table row (model | setting | FP32 | uniform... | DQSS-None | paper | derived | DQSS).")
    var markdown = false
    @Flag(help: "No progress on stderr.") var quiet = false

    var methods: [PTQMethod] { get throws { try PTQMethod.candidateList(candidates) } }

    func validate() throws {
        if mode != "ptq" { throw ValidationError("--mode \(mode): this command runs --mode ptq") }
        for (flag, b) in [("--bits", bits), ("--weight-bits", weightBits ?? bits), ("--act-bits", actBits ?? bits)]
        where !(2...8).contains(b) {
            throw ValidationError("\(flag) must be in 2...8 (got \(b))")
        }
        if calib < 1 { throw ValidationError("--calib must be at least 1 (got \(calib))") }
        if valImages < 0 { throw ValidationError("--val-images must be at least 0 (got \(valImages))") }
        if refinePasses < 0 { throw ValidationError("--refine-passes must be at least 0 (got \(refinePasses))") }
        if batch < 1 { throw ValidationError("--batch must be at least 1 (got \(batch))") }
        if calibBatch < 1 { throw ValidationError("--calib-batch must be at least 1 (got \(calibBatch))") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1 (got \(limit))") }
        if let eqImages, eqImages < 1 { throw ValidationError("--eq-images must be at least 1 (got \(eqImages))") }
        if ![128, 256].contains(klUnsignedBins) { throw ValidationError("--kl-unsigned-bins must be 128 or 256 (got \(klUnsignedBins))") }
        if SearchSchedule(rawValue: schedule) == nil { throw ValidationError("--schedule must be annealed or paper (got \(schedule))") }
        if let optimizer, SearchOptimizer(rawValue: optimizer) == nil {
            throw ValidationError("--optimizer must be sgd or adam (got \(optimizer))")
        }
        if let lr, !(lr >= 0 && lr.isFinite) { throw ValidationError("--lr must be a finite number >= 0 (got \(lr))") }
        if !(momentum >= 0 && momentum < 1) { throw ValidationError("--momentum must be in [0, 1) (got \(momentum))") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1 (got \(epochs))") }
        if let searchBatch, searchBatch < 1 { throw ValidationError("--search-batch must be at least 1 (got \(searchBatch))") }
        if let temperature, !(temperature > 0 && temperature <= 1) {
            throw ValidationError("--temperature must be in (0, 1] (got \(temperature))")
        }
        if searchLoss != "ce" && searchLoss != "kd" { throw ValidationError("--search-loss must be ce or kd (got \(searchLoss))") }
        if calibSplit == split { throw ValidationError("--calib-split and --split are both \"\(split)\": the test split must never be used for calibration or selection") }
        if json && markdown { throw ValidationError("--json and --markdown are exclusive") }
        _ = try methods
    }

    /// The settings of a search with `schedule`, every default of that schedule overridden by the flags.
    func searchSettings(_ schedule: SearchSchedule) -> PTQSearchSettings {
        var s = PTQSearchSettings.defaults(schedule)
        if let epochs { s.epochs = epochs }
        if let searchBatch { s.batchSize = searchBatch }
        if let lr { s.lr = lr }
        if let temperature, schedule == .annealed { s.temperatureEnd = temperature }
        if let optimizer { s.optimizer = SearchOptimizer(rawValue: optimizer)! }
        s.momentum = momentum
        s.seed = seed
        return s
    }

    func run() throws {
        threading.apply()
        let main = SearchSchedule(rawValue: schedule)!
        var schedules = [main]
        if alsoPaper && main != .paper { schedules.insert(.paper, at: 0) }
        let o = PTQSearchOptions(
            model: model, weights: URL(fileURLWithPath: weights).path, data: data, methods: try methods,
            ptq: PTQSettings(weightBits: weightBits ?? bits, activationBits: actBits ?? bits,
                             signedActivations: signedActivations, eqMaxImages: eqImages, klUnsignedBins: klUnsignedBins),
            calib: calib, valImages: valImages, refinePasses: refinePasses, seed: seed, calibSplit: calibSplit, split: split,
            limit: limit, batch: batch, calibBatch: calibBatch,
            searches: schedules.map { searchSettings($0) }, distillation: searchLoss == "kd",
            out: out, json: json, markdown: markdown, quiet: quiet,
            commandLine: CommandLine.arguments.joined(separator: " "))
        try RankedRun.run { comm in
            if comm.rank == 0, let out = o.out { try prepareOutputDirectory(out) }
            let report = try PTQSearchRun.search(o, communicator: comm)
            if comm.rank == 0 { try report.emit(o, log: RankLog(communicator: comm, quiet: o.quiet)) }
        }
    }
}

extension PTQMethod {
    /// The `--candidates` list of a search: comma-separated method names, in branch (tie-break) order.
    static func candidateList(_ text: String) throws -> [PTQMethod] {
        let ms = try text.split(separator: ",").map { name in
            guard let m = PTQMethod(named: String(name)) else {
                throw ValidationError("--candidates: unknown candidate \"\(name)\" (maxabs, kl, easyquant, admm)")
            }
            return m
        }
        if ms.isEmpty || Set(ms).count != ms.count { throw ValidationError("--candidates: empty or repeated (\(text))") }
        return ms
    }
}
