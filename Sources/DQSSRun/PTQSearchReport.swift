// The result of `dqss search --mode ptq`: the --json object, the per-layer table and summary printed on
// the terminal, the Markdown row of scripts/search-table.sh, and the output directory (assignment.json for
// `dqss export --from DIR`, search.json = the full report, figure4.svg = the paper's Figure 4, theta.svg =
// θ per layer as a heatmap, top1.svg = every row's top-1 as bars, loss.svg = the search loss per step).

import Foundation
import DQSSTensor
import DQSSSearch
import DQSSDistributed
import DQSSCheckpoint

/// The result of `dqss search --mode ptq` (file header); its JSON is search.json and the --json output.
public struct PTQSearchReport: Encodable {
    public struct Search: Encodable {
        public var schedule: String
        public var optimizer: String
        public var lr: Float
        public var epochs: Int
        public var batch: Int
        public var steps: Int
        public var temperatureEnd: Double
        /// `--progressive-fixing` (PTQSearch's header).
        public var progressiveFixing: Bool
        /// `--gumbel-straight-through` (PTQSearch's header).
        public var gumbelStraightThrough: Bool
        public var loss: String
        public var firstLoss: Double
        public var lastLoss: Double
        /// The loss of every search step, in order (loss.svg).
        public var stepLosses: [Double]
        public var seconds: Double
        public var derivedTop1: Double
        public var activationCounts: [String: Int]
        public var weightCounts: [String: Int]
    }

    /// A peer row (SearchPeer) or the DQSS final row, with its cost: wall time of its own work (the
    /// shared calibration and the test-split evaluation excluded) and the networks it evaluated.
    public struct PeerRow: Encodable {
        /// "DQSS (selected + refined)" or the peer's label.
        public var name: String
        /// The peer's raw name (`--peers`); "dqss" for the DQSS row.
        public var peer: String
        /// Where a refinement started (a candidate, "derived", "sensitivity"); nil for sensitivity selection.
        public var start: String?
        public var top1: Double
        public var validationScore: Double?
        /// Its network's score on the selection images (`--select-images`; nil without them).
        public var selectionScore: Double? = nil
        public var seconds: Double
        /// Networks scored on the validation images (its starts' scores included).
        public var validationPasses: Int
        /// Forward/backward batches over the calibration images (search steps, sensitivity passes).
        public var backwardPasses: Int
        /// Changes the greedy refinement kept (nil without one).
        public var changes: Int?
        /// True: the greedy peer started where DQSS did, and the DQSS refinement was reused.
        public var sharedWithDQSS: Bool
        public var activationCounts: [String: Int]
        public var weightCounts: [String: Int]
    }

    /// One pipeline step (issue 18 item 3): time, validation score of its network, passes, and the
    /// test-split top-1 of its network when that is a report row.
    public struct Phase: Encodable {
        public var name: String
        public var seconds: Double
        public var validationScore: Double?
        public var validationPasses: Int
        public var backwardPasses: Int
        public var top1: Double?
    }

    /// One greedy refinement of the selection (RefinementStarts): its start, scores, cost, and whether kept.
    public struct Refinement: Encodable {
        public var start: String
        public var startScore: Double
        public var validationScore: Double
        public var changes: Int
        public var validationPasses: Int
        public var seconds: Double
        public var kept: Bool
        /// Its score on the selection images (`--select-images`), which then decides `kept`.
        public var selectionScore: Double?
        /// Top-1 of its network: the final row when kept; when not kept, only in a run with peers.
        public var top1: Double?
    }

    public struct Calibration: Encodable {
        public var images: Int
        public var split: String
        public var seed: UInt64
        public var eqImages: Int?
    }

    public var task = "classification"
    public var mode = "ptq"
    public var model: String
    public var weights: String
    public var data: String
    public var split: String
    public var setting: String
    /// "tensor" or "channel" (--weight-granularity).
    public var weightGranularity: String
    public var weightBits: Int
    public var activationBits: Int
    public var signedActivations: Bool
    public var candidates: [String]
    public var ranks: Int
    public var threads: Int
    /// The OpenBLAS kernel family that ran (quantized top-1 can differ by a few images between families;
    /// docs/results.md, "Reproducing the figures on another machine").
    public var openblasCore = OpenBLASCore.name
    /// The convolution backend that ran ("onednn" or "im2col"; DQSS_CONV_BACKEND), beside the kernel family.
    public var convBackend: String? = ConvBackend.processDefault.rawValue
    public var fp32Top1: Double
    public var testImages: Int
    /// Candidate name -> top-1 of that candidate on every layer.
    public var uniform: [String: Double]
    public var dqssNoneTop1: Double
    public var paperDerivedTop1: Double?
    /// The main search's derived (argmax) network.
    public var derivedTop1: Double
    /// The final network: selection + greedy refinement (§6.2); the derived one without validation images.
    public var dqssTop1: Double
    /// The selection (§6.2): the start with the lowest validation score, "derived" or a candidate name.
    public var selectedStart: String
    /// Where the kept refinement started (the final network's start): `selectedStart`, or with
    /// `--refine-from both`/`all` possibly another start.
    public var refinedFrom: String
    public var validationImages: Int
    /// The JPEG quality the validation images went through before scoring (nil: lossless; --val-jpeg-quality).
    public var validationJPEGQuality: Int? = nil
    /// Held-out images, disjoint from the validation images, that chose between the refinements (`--select-images`; nil: none).
    public var selectionImages: Int? = nil
    public var validationScores: [String: Double]
    public var finalValidationScore: Double?
    public var refinePasses: Int
    /// `--refine-from`: "best", "both" or "all".
    public var refineFrom: String
    /// The final network against every other row on the same test images: the images only one of the two
    /// classifies correctly, the difference with its standard error, McNemar's p (PairedTop1).
    public var pairedWithFinal: [PairedTop1] = []
    /// The final network and every other row on the test images: agreement with FP32's top-1 class, mean KL to
    /// FP32, and the final network's KL minus the row's, paired, with its standard error (FidelityToFP32).
    public var fidelityToFP32: [FidelityToFP32] = []
    /// `--refine-significance`: the gate of DQSS's refinements in standard errors (nil: the plain rule).
    public var refineSignificance: Double? = nil
    /// Every refinement run (two with --refine-from both, three with all, when the starts differ), the kept one marked.
    public var refinements: [Refinement]
    public var refinementChanges: [GreedyRefinement.Change]
    public var refinementEvaluations: Int
    public var searches: [Search]
    /// The DQSS final row and the peers' (`--peers`), each with its cost; only the DQSS row without peers.
    public var peers: [PeerRow]
    /// calibrate, search, derive, select, refine, each peer: time and validation score (run order).
    public var phases: [Phase]
    /// The final assignment, per layer with θ, α, β and the search's own derived choice.
    public var assignment: [AssignmentLayer]
    public var activationCounts: [String: Int]
    public var weightCounts: [String: Int]
    public var calibration: Calibration
    public var timings: [String: Double]
    public var seconds: Double
    public var commandLine: String


    /// assignment.json: what `dqss export --from DIR` reads (model, weights, bit widths, per-layer
    /// candidates and thresholds), plus θ, α, β and the search's own derived choice per layer.
    public var assignmentDocument: AssignmentDocument {
        let source = refinedFrom == "derived" && refinementChanges.isEmpty
            ? "derived (winner-take-all of the \(searches.last?.schedule ?? "") search)"
            : "refined from \(refinedFrom), \(refinementChanges.count) refinement change(s)"
        return AssignmentDocument(source: source, model: model, weights: weights, candidates: candidates,
                                  weightBits: weightBits, activationBits: activationBits,
                                  signedActivations: signedActivations, layers: assignment)
    }

    /// Write assignment.json, search.json (this report), figure4.svg, theta.svg, top1.svg and loss.svg into `directory`, each atomically
    /// (an interrupted run never leaves a half-written file).
    /// - Throws: `SearchRunError` naming the file that could not be written.
    public func write(to directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw SearchRunError("--out: cannot create \(directory.path): \(error)")
        }
        func written(_ name: String, _ write: (URL) throws -> Void) throws {
            let url = directory.appendingPathComponent(name)
            do { try write(url) } catch { throw SearchRunError("--out: cannot write \(url.path): \(error)") }
        }
        try written("assignment.json") { try assignmentDocument.writeJSON(to: $0) }
        try written("search.json") { try writeJSON(to: $0) }
        func derived(_ label: (AssignmentLayer) -> String) -> [String: Int] {
            AssignmentLayer.counts(assignment.map(label), candidates: candidates)
        }
        try written("figure4.svg") { try AtomicFile.write(Data(AssignmentChart.svg(
            title: "\(model) \(setting): layers per strategy (DQSS final vs search argmax)",
            candidates: candidates,
            series: [("activations, final", activationCounts), ("weights, final", weightCounts),
                     ("activations, derived", derived { $0.derivedActivation ?? $0.activation }),
                     ("weights, derived", derived { $0.derivedWeight ?? $0.weight })]).utf8), to: $0) }
        try written("theta.svg") { try AtomicFile.write(Data(ThetaHeatmap.svg(
            title: "\(model) \(setting): θ per layer at the end of the search (outlined: the final choice)",
            candidates: candidates, rows: assignment.thetaHeatmapRows(candidates: candidates)).utf8), to: $0) }
        try written("loss.svg") { try AtomicFile.write(Data(LineChart.svg(
            title: "\(model) \(setting): search loss per step", xLabel: "step", yLabel: searches.first?.loss == "kd" ? "KD loss" : "cross-entropy",
            series: searches.map { s in LineSeries(name: "\(s.schedule) search", points: s.stepLosses.enumerated().map { (Double($0.offset + 1), $0.element) }) }).utf8), to: $0) }
        try written("top1.svg") { try AtomicFile.write(Data(Top1BarChart.svg(
            title: "\(model) \(setting) on \(split): top-1 of every row", bars: top1Bars).utf8), to: $0) }
    }

    /// The rows of the report as bars: FP32, each uniform candidate, DQSS-None, the derived and the final network.
    public var top1Bars: [Top1Bar] {
        [Top1Bar(label: "FP32", top1: fp32Top1)]
            + candidates.compactMap { c in uniform[c].map { Top1Bar(label: "uniform \(c)", top1: $0) } }
            + [Top1Bar(label: "DQSS-None (soft)", top1: dqssNoneTop1)]
            + (paperDerivedTop1.map { [Top1Bar(label: "DQSS paper schedule", top1: $0)] } ?? [])
            + [Top1Bar(label: "DQSS derived", top1: derivedTop1), Top1Bar(label: "DQSS final", top1: dqssTop1, highlighted: true)]
    }

    /// The per-layer table (terminal).
    public func layerTable() -> String {
        let w = max(10, assignment.map(\.name.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        var lines = [pad("layer", w) + "  " + pad("activation", 10) + " " + pad("T_a", 9) + " " + pad("weight", 10) + " "
                     + pad("T_w", 9) + " " + pad("theta_a (" + candidates.joined(separator: ",") + ")", 30) + " theta_w   search argmax"]
        for l in assignment {
            let ta = (l.thetaActivation ?? []).map { String(format: "%.2f", $0) }.joined(separator: " ")
            let tw = (l.thetaWeight ?? []).map { String(format: "%.2f", $0) }.joined(separator: " ")
            let da = l.derivedActivation ?? l.activation, dw = l.derivedWeight ?? l.weight
            let changed = da != l.activation || dw != l.weight
            lines.append(pad(l.name, w) + "  " + pad(l.activation + (l.activationUnsigned == false ? "±" : ""), 10) + " "
                         + pad(String(format: "%.4g", l.activationThreshold), 9) + " " + pad(l.weight, 10) + " "
                         + pad(String(format: "%.4g", l.weightThreshold), 9) + " " + pad(ta, 30) + " " + pad(tw, 9) + " "
                         + (changed ? "\(da)/\(dw) *" : ""))
        }
        lines.append("(± signed activation input; * changed by selection/refinement from the search's argmax)")
        return lines.joined(separator: "\n")
    }

    /// The final network against the uniform candidate or peer row with the highest top-1 (issue 18's
    /// comparison), with the test split's paired noise; nil without those rows.
    public var bestOtherRow: PairedTop1? {
        let labels = Set(candidates + peers.filter { $0.peer != "dqss" }.map(\.name))
        var best: PairedTop1?
        for p in pairedWithFinal where labels.contains(p.row) {
            if best.map({ p.rowOnly - p.finalOnly > $0.rowOnly - $0.finalOnly }) ?? true { best = p }   // ties: the earlier row
        }
        return best
    }

    /// The comparison table (terminal).
    public func summary() -> String {
        var rows: [(String, Double)] = [("FP32", fp32Top1)]
        rows += candidates.map { ("\($0) (uniform)", uniform[$0] ?? .nan) }
        rows.append(("DQSS-None (soft, θ = 1/N)", dqssNoneTop1))
        if let p = paperDerivedTop1 { rows.append(("DQSS paper schedule (derived)", p)) }
        rows.append(("DQSS \(searches.last?.schedule ?? "") (derived)", derivedTop1))
        rows.append(("DQSS (refined from \(refinedFrom))", dqssTop1))
        for r in refinements where !r.kept {
            if let t = r.top1 { rows.append(("DQSS refined from \(r.start) (not kept)", t)) }
        }
        for p in peers where p.peer != "dqss" { rows.append((p.name + (p.start.map { " (from \($0))" } ?? ""), p.top1)) }
        let w = rows.map(\.0.count).max() ?? 0
        var out = ["", "\(model) \(setting) top-1 on \(split) (\(testImages) images):"]
        for (n, v) in rows { out.append("  " + n + String(repeating: " ", count: w - n.count) + String(format: "  %6.2f %%", v)) }
        if let p = bestOtherRow {
            out.append(String(format: "final vs the best other row (%@): %+.2f ± %.2f points (%d images only final right, %d only %@; McNemar p = %.3f)",
                              p.row, p.difference, p.standardError, p.finalOnly, p.rowOnly, p.row, p.pValue))
            if let f = fidelityToFP32.first, let o = fidelityToFP32.first(where: { $0.row == p.row }) {
                out.append(String(format: "fidelity to FP32 on test: final agrees on %.2f %% of the images, KL %.4f; %@ %.2f %%, KL %.4f; KL final − it %+.4f ± %.4f",
                                  f.agreement, f.kl, o.row, o.agreement, o.kl, o.klFinalMinusRow, o.klStandardError))
            }
        }
        if peers.count > 1 {
            out.append("cost (own wall time; validation passes of \(validationImages) images; backward batches of calibration images):")
            let pw = peers.map(\.name.count).max() ?? 0
            for p in peers {
                out.append("  " + p.name + String(repeating: " ", count: pw - p.name.count)
                           + String(format: "  %6.2f %%  %7.1f s  %4d val  %4d bwd", p.top1, p.seconds, p.validationPasses, p.backwardPasses))
            }
        }
        if !phases.isEmpty {
            out.append("phases (validation score: KL to FP32 on the validation images; top-1 on \(split)):")
            let nw = phases.map(\.name.count).max() ?? 0
            for p in phases {
                out.append("  " + p.name + String(repeating: " ", count: nw - p.name.count) + String(format: "  %7.1f s", p.seconds)
                           + (p.validationScore.map { String(format: "  score %.5f", $0) } ?? "                ")
                           + (p.top1.map { String(format: "  %6.2f %%", $0) } ?? ""))
            }
        }
        out.append("  activations: " + candidates.map { "\($0) \(activationCounts[$0] ?? 0)" }.joined(separator: ", ")
                   + "; weights: " + candidates.map { "\($0) \(weightCounts[$0] ?? 0)" }.joined(separator: ", "))
        return out.joined(separator: "\n")
    }

    /// | model | setting | FP32 | each candidate | DQSS-None | paper (derived) | main (derived) | DQSS | start | changes |
    public func markdownRow() -> String {
        var cells = [model, setting, String(format: "%.2f", fp32Top1)]
        cells += candidates.map { String(format: "%.2f", uniform[$0] ?? .nan) }
        cells.append(String(format: "%.2f", dqssNoneTop1))
        cells.append(paperDerivedTop1.map { String(format: "%.2f", $0) } ?? "–")
        cells.append(String(format: "%.2f", derivedTop1))
        let best = candidates.compactMap { uniform[$0] }.max() ?? 0
        let final = String(format: "%.2f", dqssTop1)
        cells.append(dqssTop1 >= best && dqssTop1 >= dqssNoneTop1 ? "**\(final)**" : final)
        cells.append(refinedFrom)
        cells.append("\(refinementChanges.count)")
        return "| " + cells.joined(separator: " | ") + " |"
    }

    /// The peer table's rows (DQSS final first):
    /// | model | setting | row | start | top-1 | Δ vs DQSS | validation score | seconds | validation passes | backward batches |
    public func peerMarkdownRows() -> [String] {
        guard peers.count > 1 else { return [] }
        return peers.map { p in
            let cells = [model, setting, p.name, p.start ?? "–", String(format: "%.2f", p.top1),
                         p.peer == "dqss" ? "–" : String(format: "%+.2f", p.top1 - dqssTop1),
                         p.validationScore.map { String(format: "%.5f", $0) } ?? "–", String(format: "%.0f", p.seconds),
                         "\(p.validationPasses)", "\(p.backwardPasses)"]
            return "| " + cells.joined(separator: " | ") + " |"
        }
    }
}

extension PTQSearchReport {
    /// The report of a classification search pipeline run with options `o` on `ranks` ranks.
    init(_ r: SearchPipelineResult<ShardedEvaluation.Result>, options o: PTQSearchOptions, ranks: Int, seconds: Double) {
        let names = r.table.names, finalQ = r.finalQuantization, main = r.main
        func counts(_ c: [Int]) -> [String: Int] { Dictionary(uniqueKeysWithValues: zip(names, c)) }
        let searches = r.searches.map { s in
            Search(schedule: s.settings.schedule.rawValue, optimizer: s.settings.optimizer.rawValue, lr: s.settings.lr,
                   epochs: s.settings.epochs, batch: s.settings.batchSize, steps: s.records.count,
                   temperatureEnd: s.settings.schedule == .annealed ? s.settings.temperatureEnd : 1,
                   progressiveFixing: s.settings.progressiveFixing, gumbelStraightThrough: s.settings.gumbelStraightThrough, loss: o.distillation ? "kd" : "ce", firstLoss: s.records.first?.loss ?? .nan,
                   lastLoss: s.records.last?.loss ?? .nan, stepLosses: s.records.map(\.loss), seconds: s.seconds, derivedTop1: s.derived.top1,
                   activationCounts: counts(s.assignment.activationCounts), weightCounts: counts(s.assignment.weightCounts))
        }
        let layers = r.table.layers[0].indices.map { l in
            let derived = main.assignment.layers[l], q = finalQ[l]
            return AssignmentLayer(name: q.name, kind: r.layerKinds[l],
                                   activation: names[r.final.activation[l]], weight: names[r.final.weight[l]],
                                   activationThreshold: q.thresholds.activation, weightThreshold: q.thresholds.weight,
                                   activationUnsigned: q.activationUnsigned, activationBits: q.activationBits,
                                   weightBits: q.weightBits, alpha: derived.alpha, beta: derived.beta,
                                   thetaActivation: main.theta[l].activation, thetaWeight: main.theta[l].weight,
                                   derivedActivation: derived.activationCandidate, derivedWeight: derived.weightCandidate,
                                   weightChannelThresholds: q.thresholds.weightChannels,
                                   weightRounding: q.thresholds.weightRounding)
        }
        self.init(model: o.model, weights: o.weights, data: o.data, split: o.split,
                  setting: o.ptq.label, weightGranularity: o.ptq.weightGranularity.rawValue,
                  weightBits: o.ptq.weightBits, activationBits: o.ptq.activationBits, signedActivations: o.ptq.signedActivations,
                  candidates: names, ranks: ranks, threads: Threads.count,
                  fp32Top1: r.fp32.top1, testImages: r.fp32.total,
                  uniform: Dictionary(uniqueKeysWithValues: zip(names, r.uniform.map(\.top1))), dqssNoneTop1: r.dqssNone.top1,
                  paperDerivedTop1: r.searches.first(where: { $0.settings.schedule == .paper })?.derived.top1,
                  derivedTop1: main.derived.top1, dqssTop1: r.finalEvaluation.top1,
                  selectedStart: r.selectedStart, refinedFrom: r.refinedFrom, validationImages: o.valImages, validationScores: r.validationScores,
                  finalValidationScore: r.refinement?.score, refinePasses: o.refinePasses,
                  refineFrom: o.refineStarts.rawValue, refinements: r.refinements.map {
                      Refinement(start: $0.start, startScore: $0.startScore, validationScore: $0.result.score,
                                 changes: $0.result.changes.count, validationPasses: $0.result.evaluations, seconds: $0.seconds,
                                 kept: $0.kept, selectionScore: $0.selectionScore, top1: $0.evaluation?.top1)
                  },
                  refinementChanges: r.refinement?.changes ?? [], refinementEvaluations: r.refinement?.evaluations ?? 0,
                  searches: searches, peers: Self.peerRows(r, names: names), phases: Self.phases(r), assignment: layers,
                  activationCounts: r.finalActivationCounts, weightCounts: r.finalWeightCounts,
                  calibration: .init(images: o.calib, split: o.calibSplit, seed: o.seed, eqImages: o.ptq.eqMaxImages),
                  timings: r.timings, seconds: seconds, commandLine: o.commandLine)
        validationJPEGQuality = o.validationJPEGQuality
        selectionImages = o.selectionImages > 0 ? o.selectionImages : nil
        refineSignificance = o.refineSignificance
    }
}

extension PTQSearchReport {
    /// The DQSS final row (its cost: the main search, derive, select and refine phases) and every peer's.
    static func peerRows(_ r: SearchPipelineResult<ShardedEvaluation.Result>, names: [String]) -> [PeerRow] {
        func counts(_ c: [Int]) -> [String: Int] { Dictionary(uniqueKeysWithValues: names.indices.map { i in (names[i], c.filter { $0 == i }.count) }) }
        let mainSearch = "search (\(r.main.settings.schedule.rawValue))"
        let own = r.phases.filter { ["derive", "select", "sensitivity start", "choose on selection images"].contains($0.name) || $0.name == "refine"
                                    || $0.name.hasPrefix("refine from ") }
            + r.phases.filter { $0.name == mainSearch }.suffix(1)
        var rows = [PeerRow(name: "DQSS (selected + refined)", peer: "dqss", start: r.refinedFrom, top1: r.finalEvaluation.top1,
                            validationScore: r.refinement?.score ?? r.validationScores["derived"],
                            selectionScore: r.refinements.first { $0.kept }?.selectionScore,
                            seconds: own.reduce(0) { $0 + $1.seconds },
                            // The soft mixture's score (search phase) is the report's, not the method's.
                            validationPasses: own.filter { $0.name != mainSearch }.reduce(0) { $0 + $1.validationPasses },
                            backwardPasses: own.reduce(0) { $0 + $1.backwardPasses }, changes: r.refinement?.changes.count,
                            sharedWithDQSS: false, activationCounts: counts(r.final.activation), weightCounts: counts(r.final.weight))]
        rows += r.peers.map { p in
            PeerRow(name: p.peer.label, peer: p.peer.rawValue, start: p.start, top1: p.evaluation.top1,
                    validationScore: p.validationScore, selectionScore: p.selectionScore, seconds: p.seconds,
                    validationPasses: p.validationPasses,
                    backwardPasses: p.backwardPasses, changes: p.refinement?.changes.count, sharedWithDQSS: p.sharedWithDQSS,
                    activationCounts: counts(p.choice.activation), weightCounts: counts(p.choice.weight))
        }
        return rows
    }

    static func phases(_ r: SearchPipelineResult<ShardedEvaluation.Result>) -> [Phase] {
        r.phases.map { Phase(name: $0.name, seconds: $0.seconds, validationScore: $0.validationScore,
                             validationPasses: $0.validationPasses, backwardPasses: $0.backwardPasses, top1: $0.evaluation?.top1) }
    }
}
