// The DQSS PTQ search for super-resolution (`dqss search --task sr`): the search pipeline (SearchPipeline,
// ALGORITHMS.md §6) with the SR choices of §10.1 / §9 #11 (SRSearchTask):
//
//   1. FP32 PSNR/SSIM on every test set (SRBenchmark: Y channel, 4-pixel shave, 8-bit output).
//   2. Calibration pairs: `calib` HR/LR patch pairs from CIFAR-10 *training* records (SRPatchPairs: no SR
//      training set is available, the test sets are never used), LR = MATLAB bicubic x4.
//   3. Every candidate's (T_w, T_a) per conv from FP32 passes over the LR patches (PTQCalibration);
//      each uniform candidate evaluated on the test sets.
//   4. DQSS-None: the mixture with θ = 1/N everywhere (§6.1), evaluated.
//   5. Search α, β with the L1 loss to the HR patches (`--target fp32`: to the FP32 network's outputs
//      instead), derive by argmax (Eq. 6), install the plain quantizers of the winners, evaluate: "DQSS".
//   6. Selection (§6.2, adapted to SR): on `valPairs` further CIFAR-10 training records, disjoint from the
//      calibration ones, score the derived assignment and every uniform candidate by the mean absolute
//      difference between the quantized and the FP32 network's outputs (label-free, like §6.2's KL to the
//      FP32 softmax); the best one is the "DQSS (selected)" row.
//   7. Greedy refinement of the selected assignment (GreedyRefinement, `--refine-passes`, default 1) with the
//      same held-out score, with `--refine-from both` also of the other of the derived network and the best
//      uniform candidate, with `all` (default) also of the sensitivity selection, the lowest refined score
//      kept: the "DQSS (selected + refined)" row.
//
// Every row is scored on identical inputs. Output: a Markdown table (PSNR/SSIM per set and the average
// over sets) on stdout, or one JSON object with --json; progress on stderr.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSDistributed
import DQSSCheckpoint

/// Everything an SR PTQ search run needs (the flags of `dqss search --task sr`).
public struct SRSearchOptions {
    public var model: String
    public var weights: String
    /// Folder of test sets (one sub-folder per set).
    public var data: String
    /// CIFAR-10 folder whose training split gives the HR calibration patches.
    public var calibData: String
    public var sets: [String]?
    public var methods: [PTQMethod]
    public var ptq: PTQSettings
    public var search: PTQSearchSettings
    public var calib: Int
    /// Search target: "hr" (L1 to the HR patch, the paper's task loss, §9 #11) or "fp32" (L1 to the FP32
    /// network's output on the same LR patch: only the quantization error, label-free).
    public var target: String
    /// Held-out validation pairs for the selection step (0: no selection).
    public var valPairs: Int
    /// Greedy refinement passes after the selection (0: selection only).
    public var refinePasses: Int
    /// Where the refinement starts (RefinementStarts).
    public var refineStarts: RefinementStarts = .all
    public var patch: Int
    public var seed: UInt64
    public var calibBatch: Int
    public var tile: Int?
    public var tileOverlap: Int?
    public var savePng: String?
    public var out: String?
    public var json: Bool
    public var quiet: Bool

    public init(model: String, weights: String, data: String, calibData: String, sets: [String]?, methods: [PTQMethod], ptq: PTQSettings, search: PTQSearchSettings, calib: Int, target: String, valPairs: Int, refinePasses: Int, patch: Int, seed: UInt64, calibBatch: Int, tile: Int?, tileOverlap: Int?, savePng: String?, out: String?, json: Bool, quiet: Bool) {
        self.model = model
        self.weights = weights
        self.data = data
        self.calibData = calibData
        self.sets = sets
        self.methods = methods
        self.ptq = ptq
        self.search = search
        self.calib = calib
        self.target = target
        self.valPairs = valPairs
        self.refinePasses = refinePasses
        self.patch = patch
        self.seed = seed
        self.calibBatch = calibBatch
        self.tile = tile
        self.tileOverlap = tileOverlap
        self.savePng = savePng
        self.out = out
        self.json = json
        self.quiet = quiet
    }
}

/// One row of the table: a network variant and its scores per set.
public struct SRSearchRow: Encodable {
    public var method: String
    public var sets: [String: SRSetScore]
    public var seconds: Double
}

/// The result of an SR PTQ search (sr-search.json, --json).
public struct SRSearchReport: Encodable {
    public struct Calibration: Encodable {
        public var source: String
        public var pairs: Int
        public var hrPatch: Int
        public var lrPatch: Int
        public var seed: UInt64
    }
    public struct Search: Encodable {
        public var schedule: String
        public var target: String
        public var steps: Int
        public var epochs: Int
        public var batch: Int
        public var lr: Float
        public var temperatureEnd: Double
        /// `--progressive-fixing`, `--gumbel-straight-through` (PTQSearch's header).
        public var progressiveFixing: Bool
        public var gumbelStraightThrough: Bool
        public var firstLoss: Double
        public var lastLoss: Double
        public var seconds: Double
    }
    public var task = "sr"
    /// The OpenBLAS kernel family that ran (docs/results.md, "Reproducing the figures on another machine").
    public var openblasCore = OpenBLASCore.name
    /// The convolution backend that ran ("onednn" or "im2col"; DQSS_CONV_BACKEND), beside the kernel family.
    public var convBackend: String? = ConvBackend.processDefault.rawValue
    public var model: String
    public var weights: String
    public var scale: Int
    public var weightBits: Int
    public var activationBits: Int
    public var setNames: [String]
    public var rows: [SRSearchRow]
    public var calibration: Calibration
    public var search: Search
    /// Candidate labels in branch order.
    public var candidates: [String]
    /// The derived (winner-take-all, Eq. 6) assignment with α, β.
    public var assignment: [AssignmentLayer]
    public var activationCounts: [String: Int]
    public var weightCounts: [String: Int]
    /// Validation score (mean |y_q − y_FP32|) of each contender, and the winner (nil without selection).
    public var selectionScores: [String: Double]
    public var selected: String?
    /// Where the kept refinement started (nil without selection).
    public var refinedFrom: String?
    /// Held-out score after the greedy refinement, and the changes it kept.
    public var refinedScore: Double?
    public var refinementChanges: [GreedyRefinement.Change]
}

/// The DQSS PTQ search of an SR network (file header).
public enum SRSearchRun {
    /// Steps 1–7; returns the report (the CLI prints it, `write(toDirectory:)` saves sr-search.json).
    public static func search(_ o: SRSearchOptions) throws -> SRSearchReport {
        let log = RankLog(communicator: SingleProcess(), quiet: o.quiet)
        let spec = try SRModelZoo.spec(named: o.model)
        let bench = try SRBenchmark(directory: URL(fileURLWithPath: o.data), scale: spec.scale, names: o.sets)
        let train = try CIFAR10Dataset(directory: URL(fileURLWithPath: o.calibData), split: "train")
        guard o.calib + o.valPairs <= train.count else {
            throw DQSSDataError("--calib \(o.calib) + --val-images \(o.valPairs): the CIFAR-10 training split of \(o.calibData) "
                                + "has \(train.count) records")
        }
        let network = try spec.load(weights: URL(fileURLWithPath: o.weights))
        network.setTraining(false)

        // Calibration pairs from CIFAR-10 training records (seeded draw without replacement), the held-out
        // validation pairs after them.
        var rng = RNG(seed: o.seed)
        let order = rng.permutation(train.count)
        let indices = Array(order.prefix(o.calib))
        let validation: SRPatchPairs? = try o.valPairs == 0 ? nil
            : SRPatchPairs.cifar(train, indices: Array(order[o.calib..<(o.calib + o.valPairs)]), scale: spec.scale,
                                 patch: o.patch, seed: o.seed &+ 2)
        let pairs = try SRPatchPairs.cifar(train, indices: indices, scale: spec.scale, patch: o.patch, seed: o.seed &+ 1)
        log.progress("calibration: \(pairs.count) HR/LR pairs (\(o.patch)x\(o.patch) -> \(o.patch / spec.scale)x\(o.patch / spec.scale)) "
                     + "from CIFAR-10 train records of \(o.calibData)\n")
        func lowResolutionBatches(_ p: SRPatchPairs) -> [Tensor] {
            stride(from: 0, to: p.count, by: o.calibBatch).map { p.slice($0..<min($0 + o.calibBatch, p.count)).lowResolution }
        }
        let batches = lowResolutionBatches(pairs)

        // Search targets: the HR patches, or (--target fp32) the FP32 network's outputs of the LR patches.
        var targets = pairs.highResolution
        if o.target == "fp32" {
            targets = Tensor(shape: pairs.highResolution.shape)
            let per = targets.count / pairs.count
            for (k, b) in batches.enumerated() {
                let y = network.forward(b)
                (targets.data + k * o.calibBatch * per).update(from: y.data, count: y.count)
            }
        }

        let task = SRSearchTask(bench: bench, tile: o.tile, overlap: o.tileOverlap ?? spec.receptiveRadius ?? 16,
                                savePng: o.savePng, log: log, network: network,
                                validation: validation.map(lowResolutionBatches) ?? [], pairs: o.valPairs,
                                loss: L1SearchLoss(inputs: pairs.lowResolution, targets: targets))
        let pipeline = SearchPipeline(task: task, methods: o.methods, ptq: o.ptq, searches: [o.search],
                                      refinePasses: o.refinePasses, refineStarts: o.refineStarts, quiet: o.quiet)
        let r = try pipeline.run(network, calibration: batches)
        return SRSearchReport(r, options: o, scale: spec.scale, setNames: bench.sets.map(\.name), pairs: pairs.count)
    }

    /// | method | Set5 | Set14 | Avg | with PSNR/SSIM cells (the paper's Table 2 layout).
    public static func markdownTable(rows: [SRSearchRow], sets: [String]) -> String {
        var lines = ["| method | " + sets.joined(separator: " | ") + " | Avg |",
                     "|---|" + sets.map { _ in "---|" }.joined() + "---|"]
        for r in rows {
            let cells = sets.map { s -> String in
                guard let v = r.sets[s] else { return "–" }
                return String(format: "%.2f/%.4f", v.psnr, v.ssim)
            }
            let ps = sets.compactMap { r.sets[$0]?.psnr }, ss = sets.compactMap { r.sets[$0]?.ssim }
            let avg = String(format: "%.2f/%.4f", ps.reduce(0, +) / Double(max(ps.count, 1)), ss.reduce(0, +) / Double(max(ss.count, 1)))
            lines.append("| \(r.method) | " + cells.joined(separator: " | ") + " | \(avg) |")
        }
        return lines.joined(separator: "\n")
    }
}

extension SRSearchReport {
    /// The report of an SR search pipeline run: one row per evaluation, then the selected row (a copy of
    /// the winner's, renamed) and the refined one; the derived network is "DQSS" throughout.
    init(_ r: SearchPipelineResult<SRSearchRow>, options o: SRSearchOptions, scale: Int, setNames: [String], pairs: Int) {
        let names = r.table.names, main = r.main, assignment = main.assignment
        func label(_ key: String) -> String { key == "derived" ? SRSearchTask.label(.derived(main.settings.schedule)) : key }
        var rows = [r.fp32] + r.uniform + [r.dqssNone, main.derived]
        var selected: String?
        if r.refinement != nil {
            var row = names.firstIndex(of: r.selectedStart).map { r.uniform[$0] } ?? main.derived
            selected = label(r.selectedStart)
            row.method = "DQSS (selected: \(label(r.selectedStart)))"
            rows.append(row)
            if o.refinePasses > 0 { rows.append(r.finalEvaluation) }
        }
        self.init(
            model: o.model, weights: o.weights, scale: scale, weightBits: o.ptq.weightBits,
            activationBits: o.ptq.activationBits, setNames: setNames, rows: rows,
            calibration: .init(source: "CIFAR-10 train records (\(o.calibData)), bicubic x\(scale)", pairs: pairs,
                               hrPatch: o.patch, lrPatch: o.patch / scale, seed: o.seed),
            search: .init(schedule: o.search.schedule.rawValue, target: o.target, steps: main.records.count, epochs: o.search.epochs,
                          batch: o.search.batchSize, lr: o.search.lr, temperatureEnd: o.search.temperatureEnd,
                          progressiveFixing: o.search.progressiveFixing, gumbelStraightThrough: o.search.gumbelStraightThrough,
                          firstLoss: main.records.first?.loss ?? .nan, lastLoss: main.records.last?.loss ?? .nan,
                          seconds: main.seconds),
            candidates: names, assignment: assignment.layers.map(AssignmentLayer.init),
            activationCounts: Dictionary(uniqueKeysWithValues: zip(names, assignment.activationCounts)),
            weightCounts: Dictionary(uniqueKeysWithValues: zip(names, assignment.weightCounts)),
            selectionScores: Dictionary(uniqueKeysWithValues: r.validationScores.map { (label($0.key), $0.value) }),
            selected: selected, refinedFrom: r.refinement == nil ? nil : label(r.refinedFrom),
            refinedScore: o.refinePasses > 0 ? r.refinement?.score : nil, refinementChanges: r.refinement?.changes ?? [])
    }

    /// Write sr-search.json (sorted keys, pretty-printed) into `directory`, atomically.
    public func write(toDirectory directory: String) throws {
        let url = URL(fileURLWithPath: directory).appendingPathComponent("sr-search.json")
        do { try writeJSON(to: url) } catch {
            throw SearchRunError("--out: cannot write \(url.path): \(error)")
        }
    }
}
