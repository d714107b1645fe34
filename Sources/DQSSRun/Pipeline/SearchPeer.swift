// The peers of the DQSS search (issue 18): the selection methods users pick instead of a differentiable
// search, run by SearchPipeline from the same candidates and thresholds (the same calibration), scored
// on the same held-out validation images and evaluated on the same split as the DQSS rows:
//
//   (a) greedy       GreedyRefinement started from the best uniform candidate (lowest validation score,
//                    ties -> branch order), no gradient search: trial and evaluate, one validation pass
//                    per tried change (what Intel Neural Compressor's tuning does);
//   (b) sensitivity  per layer and side the candidate with the lowest first-order loss change
//                    Σ (∂L/∂y · (Q_c(y) − y))² from one FP32 backward per calibration batch
//                    (SensitivitySelection; NVIDIA Model Optimizer auto_quantize's score); no training,
//                    no validation pass;
//   (c) sensitivity-greedy  the same greedy refinement started from (b).

/// A peer of the DQSS search (file header).
public enum SearchPeer: String, Sendable, CaseIterable, Codable {
    case greedy
    case sensitivity
    case sensitivityGreedy = "sensitivity-greedy"

    /// The report's row label.
    public var label: String {
        switch self {
        case .greedy: "greedy from uniform"
        case .sensitivity: "sensitivity selection"
        case .sensitivityGreedy: "sensitivity + greedy"
        }
    }

    /// `--peers`: "none", "all", or a comma-separated list of raw values (any order, no repeats); nil
    /// when a name is unknown. The result is in run order (allCases).
    public static func parse(_ list: String) -> [SearchPeer]? {
        switch list.lowercased() {
        case "none": return []
        case "all": return allCases
        default:
            let named = list.lowercased().split(separator: ",").map { SearchPeer(rawValue: String($0)) }
            guard !named.isEmpty, !named.contains(nil), Set(named).count == named.count else { return nil }
            return allCases.filter { named.contains($0) }
        }
    }
}
