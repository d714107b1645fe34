// The DQSS PTQ search for super-resolution (`dqss search --task sr`), ALGORITHMS.md §6 with the SR
// choices of §10.1 / §9 #11:
//
//   1. FP32 PSNR/SSIM on every test set (SRBenchmark: Y channel, 4-pixel shave, 8-bit output).
//   2. Calibration pairs: `calib` HR/LR patch pairs from CIFAR-10 *training* records (SRPatchPairs: no SR
//      training set is available, the test sets are never used), LR = MATLAB bicubic x4.
//   3. Every candidate's (T_w, T_a) per conv from FP32 passes over the LR patches (PTQCalibration);
//      each uniform candidate evaluated on the test sets.
//   4. DQSS-None: the mixture with θ = 1/N everywhere (§6.1), evaluated.
//   5. Search α, β with the L1 loss to the HR patches (PTQSearch.run(inputs:targets:); `--target fp32`: to the
//      FP32 network's outputs instead), derive by argmax
//      (Eq. 6), install the plain quantizers of the winners, evaluate: the "DQSS" row.
//   6. Selection (§6.2, adapted to SR): on `valPairs` further CIFAR-10 training records, disjoint from the
//      calibration ones, score the derived assignment and every uniform candidate by the mean absolute
//      difference between the quantized and the FP32 network's outputs (label-free, like §6.2's KL to the
//      FP32 softmax); the best one is the "DQSS (selected)" row.
//   7. Greedy refinement of the selected assignment (GreedyRefinement, `--refine-passes`, default 1) with the
//      same held-out score: the "DQSS (selected + refined)" row.
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
        enum CodingKeys: String, CodingKey {
            case source, pairs, seed
            case hrPatch = "hr_patch"
            case lrPatch = "lr_patch"
        }
    }
    public struct Search: Encodable {
        public var schedule: String
        public var target: String
        public var steps: Int
        public var epochs: Int
        public var batch: Int
        public var lr: Float
        public var temperatureEnd: Double
        public var firstLoss: Double
        public var lastLoss: Double
        public var seconds: Double
        enum CodingKeys: String, CodingKey {
            case schedule, target, steps, epochs, batch, lr, seconds
            case temperatureEnd = "temperature_end"
            case firstLoss = "first_loss"
            case lastLoss = "last_loss"
        }
    }
    public var task = "sr"
    public var model: String
    public var weights: String
    public var scale: Int
    public var weightBits: Int
    public var activationBits: Int
    public var setNames: [String]
    public var rows: [SRSearchRow]
    public var calibration: Calibration
    public var search: Search
    public var assignment: StrategyAssignment
    public var activationCounts: [String: Int]
    public var weightCounts: [String: Int]
    /// Validation score (mean |y_q − y_FP32|) of each contender, and the winner (nil without selection).
    public var selectionScores: [String: Double]
    public var selected: String?
    /// Held-out score after the greedy refinement, and the changes it kept.
    public var refinedScore: Double?
    public var refinementChanges: [GreedyRefinement.Change]

    enum CodingKeys: String, CodingKey {
        case task, model, weights, scale, rows, calibration, search, assignment, selected
        case selectionScores = "selection_scores"
        case refinedScore = "refined_score"
        case refinementChanges = "refinement_changes"
        case weightBits = "weight_bits"
        case activationBits = "activation_bits"
        case setNames = "set_names"
        case activationCounts = "activation_counts"
        case weightCounts = "weight_counts"
    }
}

/// The DQSS PTQ search of an SR network (file header).
public enum SRSearchRun {
    static func log(_ quiet: Bool, _ s: String) {
        if !quiet { FileHandle.standardError.write(Data((s + "\n").utf8)) }
    }

    /// Steps 1–7; returns the report (the CLI prints it, `write(toDirectory:)` saves sr-search.json).
    public static func search(_ o: SRSearchOptions) throws -> SRSearchReport {
        let spec = try SRModelZoo.spec(named: o.model)
        let bench = try SRBenchmark(directory: URL(fileURLWithPath: o.data), scale: spec.scale, names: o.sets)
        let train = try CIFAR10Dataset(directory: URL(fileURLWithPath: o.calibData), split: "train")
        guard o.calib + o.valPairs <= train.count else {
            throw DQSSDataError("--calib \(o.calib) + --val-images \(o.valPairs): the CIFAR-10 training split of \(o.calibData) "
                                + "has \(train.count) records")
        }
        let network = try spec.load(weights: URL(fileURLWithPath: o.weights))
        let setNames = bench.sets.map(\.name)
        var rows: [SRSearchRow] = []
        let overlap = o.tileOverlap ?? spec.receptiveRadius ?? 16

        func evaluate(_ label: String) throws {
            let start = Date()
            let scores = try bench.evaluate(network, tile: o.tile, overlap: overlap,
                                            saveDirectory: o.savePng.map {
                URL(fileURLWithPath: $0).appendingPathComponent(label.replacingOccurrences(of: " ", with: "_"))
            })
            let row = SRSearchRow(method: label, sets: Dictionary(uniqueKeysWithValues: scores.map { ($0.name, $0) }),
                                  seconds: Date().timeIntervalSince(start))
            rows.append(row)
            log(o.quiet, String(format: "%-10@ ", label) + scores.map {
                String(format: "%@ %.4f / %.4f", $0.name, $0.psnr, $0.ssim)
            }.joined(separator: ", ") + String(format: "  (%.1f s)", row.seconds))
        }

        // 1. FP32.
        try evaluate("FP32")

        // 2. Calibration pairs from CIFAR-10 training records (seeded draw without replacement).
        var rng = RNG(seed: o.seed)
        let order = rng.permutation(train.count)
        let indices = Array(order.prefix(o.calib))
        let validation: SRPatchPairs? = try o.valPairs == 0 ? nil
            : SRPatchPairs.cifar(train, indices: Array(order[o.calib..<(o.calib + o.valPairs)]), scale: spec.scale,
                                 patch: o.patch, seed: o.seed &+ 2)
        let pairs = try SRPatchPairs.cifar(train, indices: indices, scale: spec.scale, patch: o.patch, seed: o.seed &+ 1)
        log(o.quiet, "calibration: \(pairs.count) HR/LR pairs (\(o.patch)x\(o.patch) -> \(o.patch / spec.scale)x\(o.patch / spec.scale)) "
            + "from CIFAR-10 train records of \(o.calibData)")

        // FP32 outputs of the validation patches (the selection's reference), in batches.
        var valBatches: [Tensor] = [], valReference: [Tensor] = []
        if let validation {
            for s in stride(from: 0, to: validation.count, by: o.calibBatch) {
                let b = validation.slice(s..<min(s + o.calibBatch, validation.count)).lowResolution
                valBatches.append(b)
                valReference.append(network.forward(b).copy())
            }
        }
        func validationScore() -> Double {
            var total = 0.0, n = 0
            for (b, ref) in zip(valBatches, valReference) {
                let y = network.forward(b)
                for i in 0..<y.count { total += Double(abs(y.data[i] - ref.data[i])) }
                n += y.count
            }
            return total / Double(max(n, 1))
        }
        var selectionScores: [String: Double] = [:]

        // 3. Candidates.
        let calibration = PTQCalibration(model: network, settings: o.ptq)
        var batches: [Tensor] = []
        for s in stride(from: 0, to: pairs.count, by: o.calibBatch) {
            batches.append(pairs.slice(s..<min(s + o.calibBatch, pairs.count)).lowResolution)
        }
        calibration.gather(batches: batches, methods: o.methods, progress: { log(o.quiet, $0) })
        var thresholds: [PTQMethod: [LayerQuantization]] = [:]
        for m in o.methods {
            let start = Date()
            thresholds[m] = try calibration.assignments(for: m)
            log(o.quiet, String(format: "%@ thresholds: %.1f s", m.paperName, Date().timeIntervalSince(start)))
        }
        calibration.releaseInputs()
        let points = QuantizedModel.points(of: network)
        for m in o.methods {
            QuantizedModel.install(points, assignments: thresholds[m]!)
            try evaluate(m.paperName)
            if validation != nil { selectionScores[m.paperName] = validationScore() }
            QuantizedModel.removeHooks(points)
        }

        // Search targets: the HR patches, or (--target fp32) the FP32 network's outputs of the LR patches.
        var targets = pairs.highResolution
        if o.target == "fp32" {
            targets = Tensor(shape: pairs.highResolution.shape)
            let per = targets.count / pairs.count
            for s in stride(from: 0, to: pairs.count, by: o.calibBatch) {
                let y = network.forward(pairs.slice(s..<min(s + o.calibBatch, pairs.count)).lowResolution)
                (targets.data + s * per).update(from: y.data, count: y.count)
            }
        }

        // 4. DQSS-None.
        let mixed = try MixedQuantizedModel(model: network, ptq: thresholds, methods: o.methods)
        mixed.setMode(.uniform)
        try evaluate("DQSS-None")

        // 5. Search with L1 to the HR patches, derive, evaluate the deployed (plain-quantizer) network.
        let searchStart = Date()
        let search = PTQSearch(model: network, mixed: mixed, settings: o.search)
        let records = search.run(inputs: pairs.lowResolution, targets: targets) { r in
            if !o.quiet && (r.step % 10 == 0) {
                log(false, String(format: "search step %d (epoch %d): L1 %.5f, lr %.2e, tau %.3f", r.step, r.epoch, r.loss, r.lr, r.temperature))
            }
        }
        let searchSeconds = Date().timeIntervalSince(searchStart)
        let assignment = mixed.assignment()
        let derived = mixed.derivedQuantization()
        mixed.remove()
        QuantizedModel.install(points, assignments: derived)
        try evaluate("DQSS")
        if validation != nil { selectionScores["DQSS"] = validationScore() }
        QuantizedModel.removeHooks(points)

        // 6. Selection among the derived and the uniform assignments (lowest validation score; ties: derived).
        var selected: String?
        var refinement: GreedyRefinement.Result?
        if validation != nil {
            let contenders = ["DQSS"] + o.methods.map(\.paperName)
            let best = contenders.min { selectionScores[$0]! < selectionScores[$1]! }!
            selected = best
            log(o.quiet, "selection on \(o.valPairs) held-out pairs (mean |y_q - y_FP32|): "
                + contenders.map { String(format: "%@ %.6f", $0, selectionScores[$0]!) }.joined(separator: ", ") + " -> \(best)")
            var row = rows.first { $0.method == best }!
            row.method = "DQSS (selected: \(best))"
            rows.append(row)

            // 7. Greedy refinement from the selected assignment (§6.2), same score: one layer and one side at
            //    a time, a change kept only when the held-out score strictly decreases.
            if o.refinePasses > 0 {
                let table = CandidateTable(names: o.methods.map(\.paperName), layers: o.methods.map { thresholds[$0]! })
                let start = best == "DQSS" ? StrategyChoice(assignment)
                    : StrategyChoice.uniform(table.names.firstIndex(of: best)!, layers: points.count)
                let t = Date()
                let result = GreedyRefinement.refine(start: start, startScore: selectionScores[best]!, table: table,
                                                     passes: o.refinePasses, score: { q in
                    QuantizedModel.install(points, assignments: q)
                    defer { QuantizedModel.removeHooks(points) }
                    return validationScore()
                })
                refinement = result
                log(o.quiet, String(format: "refinement: %d change(s) kept, %d networks scored, held-out score %.6f -> %.6f (%.0f s)",
                                    result.changes.count, result.evaluations, selectionScores[best]!, result.score,
                                    Date().timeIntervalSince(t)))
                QuantizedModel.install(points, assignments: table.quantization(result.choice))
                try evaluate("DQSS (selected + refined)")
                QuantizedModel.removeHooks(points)
            }
        }

        let names = o.methods.map(\.paperName)
        let report = SRSearchReport(
            model: o.model, weights: o.weights, scale: spec.scale, weightBits: o.ptq.weightBits,
            activationBits: o.ptq.activationBits, setNames: setNames, rows: rows,
            calibration: .init(source: "CIFAR-10 train records (\(o.calibData)), bicubic x\(spec.scale)", pairs: pairs.count,
                               hrPatch: o.patch, lrPatch: o.patch / spec.scale, seed: o.seed),
            search: .init(schedule: o.search.schedule.rawValue, target: o.target, steps: records.count, epochs: o.search.epochs,
                          batch: o.search.batchSize, lr: o.search.lr, temperatureEnd: o.search.temperatureEnd,
                          firstLoss: records.first?.loss ?? .nan, lastLoss: records.last?.loss ?? .nan, seconds: searchSeconds),
            assignment: assignment,
            activationCounts: Dictionary(uniqueKeysWithValues: zip(names, assignment.activationCounts)),
            weightCounts: Dictionary(uniqueKeysWithValues: zip(names, assignment.weightCounts)),
            selectionScores: selectionScores, selected: selected,
            refinedScore: refinement?.score, refinementChanges: refinement?.changes ?? [])
        return report
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
    /// Write sr-search.json (sorted keys, pretty-printed) into `directory`, atomically.
    public func write(toDirectory directory: String) throws {
        let url = URL(fileURLWithPath: directory).appendingPathComponent("sr-search.json")
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        do { try AtomicFile.write(enc.encode(self), to: url) } catch {
            throw SearchRunError("--out: cannot write \(url.path): \(error)")
        }
    }
}
