// The result of `dqss search --mode ptq`: the --json object, the per-layer table and summary printed on
// the terminal, the Markdown row of scripts/search-table.sh, and the output directory (assignment.json for
// `dqss export --from DIR`, search.json = the full report, figure4.svg = the paper's Figure 4).

import Foundation
import DQSSSearch
import DQSSDistributed
import DQSSCheckpoint

public struct PTQSearchReport: Encodable {
    public struct Layer: Encodable {
        public var name: String
        public var kind: String
        /// The final (selected + refined) strategy of the input activation and of the weight.
        public var activation: String
        public var weight: String
        /// The same, under the names `dqss export` reads.
        public var activationCandidate: String
        public var weightCandidate: String
        public var activationThreshold: Float
        public var weightThreshold: Float
        public var activationUnsigned: Bool
        public var activationBits: Int
        public var weightBits: Int
        /// θ = softmax(α/τ), softmax(β/τ) at the end of the main search (final τ), in candidate order.
        public var thetaActivation: [Double]
        public var thetaWeight: [Double]
        public var alpha: [Float]
        public var beta: [Float]
        /// The search's own winner-take-all choice (Eq. 6), before selection and refinement.
        public var derivedActivation: String
        public var derivedWeight: String

        enum CodingKeys: String, CodingKey {
            case name, kind, activation, weight, alpha, beta
            case activationCandidate = "activation_candidate"
            case weightCandidate = "weight_candidate"
            case activationThreshold = "activation_threshold"
            case weightThreshold = "weight_threshold"
            case activationUnsigned = "activation_unsigned"
            case activationBits = "activation_bits"
            case weightBits = "weight_bits"
            case thetaActivation = "theta_activation"
            case thetaWeight = "theta_weight"
            case derivedActivation = "derived_activation"
            case derivedWeight = "derived_weight"
        }
    }

    public struct Search: Encodable {
        public var schedule: String
        public var optimizer: String
        public var lr: Float
        public var epochs: Int
        public var batch: Int
        public var steps: Int
        public var temperatureEnd: Double
        public var loss: String
        public var firstLoss: Double
        public var lastLoss: Double
        public var seconds: Double
        public var derivedTop1: Double
        public var activationCounts: [String: Int]
        public var weightCounts: [String: Int]

        enum CodingKeys: String, CodingKey {
            case schedule, optimizer, lr, epochs, batch, steps, loss, seconds
            case temperatureEnd = "temperature_end"
            case firstLoss = "first_loss"
            case lastLoss = "last_loss"
            case derivedTop1 = "derived_top1"
            case activationCounts = "activation_counts"
            case weightCounts = "weight_counts"
        }
    }

    public struct Calibration: Encodable {
        public var images: Int
        public var split: String
        public var seed: UInt64
        public var eqImages: Int?
        enum CodingKeys: String, CodingKey {
            case images, split, seed
            case eqImages = "eq_images"
        }
    }

    public var task = "classification"
    public var mode = "ptq"
    public var model: String
    public var weights: String
    public var data: String
    public var split: String
    public var setting: String
    public var weightBits: Int
    public var activationBits: Int
    public var signedActivations: Bool
    public var candidates: [String]
    public var ranks: Int
    public var threads: Int
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
    /// Where the refinement started: "derived" or a candidate name.
    public var selectedStart: String
    public var validationImages: Int
    public var validationScores: [String: Double]
    public var finalValidationScore: Double?
    public var refinePasses: Int
    public var refinementChanges: [GreedyRefinement.Change]
    public var refinementEvaluations: Int
    public var searches: [Search]
    public var assignment: [Layer]
    public var activationCounts: [String: Int]
    public var weightCounts: [String: Int]
    public var calibration: Calibration
    public var timings: [String: Double]
    public var seconds: Double
    public var commandLine: String

    enum CodingKeys: String, CodingKey {
        case task, mode, model, weights, data, split, setting, candidates, ranks, threads, uniform, searches, assignment
        case calibration, timings, seconds
        case weightBits = "weight_bits"
        case activationBits = "activation_bits"
        case signedActivations = "signed_activations"
        case fp32Top1 = "fp32_top1"
        case testImages = "test_images"
        case dqssNoneTop1 = "dqss_none_top1"
        case paperDerivedTop1 = "paper_derived_top1"
        case derivedTop1 = "derived_top1"
        case dqssTop1 = "dqss_top1"
        case selectedStart = "selected_start"
        case validationImages = "validation_images"
        case validationScores = "validation_scores"
        case finalValidationScore = "final_validation_score"
        case refinePasses = "refine_passes"
        case refinementChanges = "refinement_changes"
        case refinementEvaluations = "refinement_evaluations"
        case activationCounts = "activation_counts"
        case weightCounts = "weight_counts"
        case commandLine = "command_line"
    }

    public func jsonString(pretty: Bool = false) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try e.encode(self), as: UTF8.self)
    }

    /// assignment.json: what `dqss export --from DIR` reads (model, weights, bit widths, per-layer
    /// candidates and thresholds), plus θ, α, β and the search's own derived choice per layer.
    struct AssignmentFile: Encodable {
        var format = "dqss-search-assignment"
        var version = 1
        var model: String
        var weights: String
        var candidates: [String]
        var weightBits: Int
        var activationBits: Int
        var signedActivations: Bool
        var source: String
        var layers: [Layer]
        enum CodingKeys: String, CodingKey {
            case format, version, model, weights, candidates, source, layers
            case weightBits = "weight_bits"
            case activationBits = "activation_bits"
            case signedActivations = "signed_activations"
        }
    }

    public func write(to directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw SearchRunError("--out: cannot create \(directory.path): \(error)")
        }
        let source = selectedStart == "derived" && refinementChanges.isEmpty
            ? "derived (winner-take-all of the \(searches.last?.schedule ?? "") search)"
            : "selected start \(selectedStart), \(refinementChanges.count) refinement change(s)"
        let file = AssignmentFile(model: model, weights: weights, candidates: candidates, weightBits: weightBits,
                                  activationBits: activationBits, signedActivations: signedActivations, source: source,
                                  layers: assignment)
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        // Written to a temporary file and renamed: an interrupted run never leaves a half-written file.
        func atomically(_ name: String, _ data: Data) throws {
            let url = directory.appendingPathComponent(name)
            do { try AtomicFile.write(data, to: url) } catch { throw SearchRunError("--out: cannot write \(url.path): \(error)") }
        }
        try atomically("assignment.json", try e.encode(file))
        try atomically("search.json", Data(try jsonString(pretty: true).utf8))
        try atomically("figure4.svg", Data(AssignmentChart.svg(
            title: "\(model) \(setting): layers per strategy (DQSS final vs search argmax)",
            candidates: candidates,
            series: [("activations, final", activationCounts), ("weights, final", weightCounts),
                     ("activations, derived", counted(assignment.map(\.derivedActivation))),
                     ("weights, derived", counted(assignment.map(\.derivedWeight)))]).utf8))
    }

    public func counted(_ names: [String]) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: candidates.map { c in (c, names.filter { $0 == c }.count) })
    }

    /// The per-layer table (terminal).
    public func layerTable() -> String {
        let w = max(10, assignment.map(\.name.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        var lines = [pad("layer", w) + "  " + pad("activation", 10) + " " + pad("T_a", 9) + " " + pad("weight", 10) + " "
                     + pad("T_w", 9) + " " + pad("theta_a (" + candidates.joined(separator: ",") + ")", 30) + " theta_w   search argmax"]
        for l in assignment {
            let ta = l.thetaActivation.map { String(format: "%.2f", $0) }.joined(separator: " ")
            let tw = l.thetaWeight.map { String(format: "%.2f", $0) }.joined(separator: " ")
            let changed = l.derivedActivation != l.activation || l.derivedWeight != l.weight
            lines.append(pad(l.name, w) + "  " + pad(l.activation + (l.activationUnsigned ? "" : "±"), 10) + " "
                         + pad(String(format: "%.4g", l.activationThreshold), 9) + " " + pad(l.weight, 10) + " "
                         + pad(String(format: "%.4g", l.weightThreshold), 9) + " " + pad(ta, 30) + " " + pad(tw, 9) + " "
                         + (changed ? "\(l.derivedActivation)/\(l.derivedWeight) *" : ""))
        }
        lines.append("(± signed activation input; * changed by selection/refinement from the search's argmax)")
        return lines.joined(separator: "\n")
    }

    /// The comparison table (terminal).
    public func summary() -> String {
        var rows: [(String, Double)] = [("FP32", fp32Top1)]
        rows += candidates.map { ("\($0) (uniform)", uniform[$0] ?? .nan) }
        rows.append(("DQSS-None (soft, θ = 1/N)", dqssNoneTop1))
        if let p = paperDerivedTop1 { rows.append(("DQSS paper schedule (derived)", p)) }
        rows.append(("DQSS \(searches.last?.schedule ?? "") (derived)", derivedTop1))
        rows.append(("DQSS (selected from \(selectedStart), refined)", dqssTop1))
        let w = rows.map(\.0.count).max() ?? 0
        var out = ["", "\(model) \(setting) top-1 on \(split) (\(testImages) images):"]
        for (n, v) in rows { out.append("  " + n + String(repeating: " ", count: w - n.count) + String(format: "  %6.2f %%", v)) }
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
        cells.append(selectedStart)
        cells.append("\(refinementChanges.count)")
        return "| " + cells.joined(separator: " | ") + " |"
    }
}
