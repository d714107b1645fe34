// The selection and greedy refinement of ALGORITHMS.md §6.2 ("our guarantee that the search never loses
// to a uniform strategy"), independent of how a network is scored:
//
//   1. score the derived assignment and every uniform candidate; start from the best (lowest score);
//   2. for at most `passes` passes, visit every layer in module order and, for its activation and then its
//      weight, try each other candidate; keep a change only when the score strictly decreases (or, with the
//      significance gate, when it decreases significantly over the images: PairedImprovement).
//
// The score is the caller's business (the CLI uses the KL divergence of the quantized network's softmax
// from the FP32 network's on held-out training images, label-free). A candidate whose threshold for that
// tensor equals the current one gives the same network and is not scored again. A pass that keeps no
// change ends the refinement early.

import DQSSQuant

/// A per-layer strategy: candidate indices for the input activation and the weight of every quantized layer.
public struct StrategyChoice: Sendable, Equatable, Codable {
    public var activation: [Int]
    public var weight: [Int]

    public init(activation: [Int], weight: [Int]) {
        precondition(activation.count == weight.count, "\(activation.count) activation and \(weight.count) weight choices")
        self.activation = activation
        self.weight = weight
    }

    /// Candidate `c` on every layer, both sides.
    public static func uniform(_ c: Int, layers: Int) -> StrategyChoice {
        StrategyChoice(activation: Array(repeating: c, count: layers), weight: Array(repeating: c, count: layers))
    }

    /// The winner-take-all choice of a search (Eq. 6).
    public init(_ assignment: StrategyAssignment) {
        self.init(activation: assignment.layers.map(\.activation), weight: assignment.layers.map(\.weight))
    }
}

/// Every candidate's per-layer quantization (thresholds frozen after calibration, §6 step 2).
public struct CandidateTable: Sendable {
    /// Candidate labels in branch order ("Max_Abs", "KL", "EQ", "ADMM").
    public let names: [String]
    /// layers[c][l]: candidate c's quantization of layer l (module order).
    public let layers: [[LayerQuantization]]

    public init(names: [String], layers: [[LayerQuantization]]) {
        precondition(names.count == layers.count && !names.isEmpty, "\(names.count) names for \(layers.count) candidates")
        precondition(Set(layers.map(\.count)).count == 1, "candidates cover different numbers of layers")
        self.names = names
        self.layers = layers
    }

    public var layerCount: Int { layers[0].count }

    /// Layer l quantized with candidate a's activation side and candidate w's weight side (plain §1 quantizers).
    public func layer(_ l: Int, activation a: Int, weight w: Int) -> LayerQuantization {
        let qa = layers[a][l], qw = layers[w][l]
        return LayerQuantization(name: qa.name, weightBits: qw.weightBits, activationBits: qa.activationBits,
                                 activationUnsigned: qa.activationUnsigned,
                                 thresholds: LayerThresholds(weight: qw.thresholds.weight, activation: qa.thresholds.activation,
                                                                  weightChannels: qw.thresholds.weightChannels,
                                                                  weightRounding: qw.thresholds.weightRounding))
    }

    /// The network's quantization under `choice`.
    public func quantization(_ choice: StrategyChoice) -> [LayerQuantization] {
        precondition(choice.activation.count == layerCount, "choice covers \(choice.activation.count) of \(layerCount) layers")
        return (0..<layerCount).map { layer($0, activation: choice.activation[$0], weight: choice.weight[$0]) }
    }
}

public enum GreedyRefinement {
    public enum Side: String, Sendable, Codable { case activation, weight }

    /// One kept change.
    public struct Change: Sendable, Codable {
        public var pass: Int
        public var layer: String
        public var side: Side
        public var from: String
        public var to: String
        public var score: Double
    }

    public struct Result: Sendable {
        public var choice: StrategyChoice
        public var score: Double
        public var changes: [Change]
        /// Networks scored during the refinement (the starting point excluded).
        public var evaluations: Int
        public var passes: Int
    }

    /// Greedy per-layer, per-side improvement of `start` (whose score is `startScore`).
    /// - Parameters:
    ///   - score: lower is better; called with the full network quantization of a trial choice.
    ///   - progress: after every scored trial: (layer index, side, trial candidate, its score, current best).
    public static func refine(start: StrategyChoice, startScore: Double, table: CandidateTable, passes: Int,
                              score: ([LayerQuantization]) throws -> Double,
                              progress: ((Int, Side, Int, Double, Double) -> Void)? = nil) rethrows -> Result {
        try refine(start: start, startScore: startScore, table: table, passes: passes,
                   trialScore: { q, _ in try score(q) }, kept: {}, progress: progress)
    }

    /// The same refinement, telling the scorer what it may reuse: `trialScore(quantization, layer)` scores a
    /// trial that differs from the current network in layer `layer` only (one side), and `kept()` follows a
    /// trial whose change was kept (it is the current network from then on). A scorer that caches the
    /// unchanged prefix of the network (StagedValidationScore) must give the scores a full pass gives.
    public static func refine(start: StrategyChoice, startScore: Double, table: CandidateTable, passes: Int,
                              trialScore: ([LayerQuantization], Int) throws -> Double, kept: () -> Void,
                              progress: ((Int, Side, Int, Double, Double) -> Void)? = nil) rethrows -> Result {
        try refine(start: start, startScore: startScore, table: table, passes: passes, trial: { q, layer, best in
            let s = try trialScore(q, layer)
            return Verdict(score: s, improves: s < best)
        }, kept: kept, progress: progress)
    }

    /// A scored trial: its score, and whether it improves on the current network (the plain rule: score <
    /// current score; the significance gate: PairedImprovement).
    public struct Verdict: Sendable, Equatable {
        public var score: Double
        public var improves: Bool
        public init(score: Double, improves: Bool) {
            self.score = score
            self.improves = improves
        }
    }

    /// The same refinement with the keep decision the scorer's: `trial(quantization, layer, current score)`
    /// scores a trial differing from the current network in layer `layer` (one side) and says whether it is
    /// kept. A kept trial must score lower than the current network (the refinement's score only falls).
    public static func refine(start: StrategyChoice, startScore: Double, table: CandidateTable, passes: Int,
                              trial trialVerdict: ([LayerQuantization], Int, Double) throws -> Verdict, kept: () -> Void,
                              progress: ((Int, Side, Int, Double, Double) -> Void)? = nil) rethrows -> Result {
        var choice = start, best = startScore
        var changes: [Change] = [], evaluations = 0, done = 0
        let candidates = table.names.indices
        for pass in 0..<max(passes, 0) {
            done = pass + 1
            var changed = false
            for l in 0..<table.layerCount {
                for side in [Side.activation, .weight] {
                    // Candidates whose network for this tensor is already scored: the one chosen on entry
                    // and every trial since (the rest of the network is unchanged meanwhile).
                    var tried = [side == .activation ? choice.activation[l] : choice.weight[l]]
                    for c in candidates {
                        let current = side == .activation ? choice.activation[l] : choice.weight[l]
                        if tried.contains(where: { $0 == c || sameThreshold(table, layer: l, side: side, $0, c) }) { continue }
                        tried.append(c)
                        var trial = choice
                        if side == .activation { trial.activation[l] = c } else { trial.weight[l] = c }
                        let verdict = try trialVerdict(table.quantization(trial), l, best)
                        let s = verdict.score
                        evaluations += 1
                        precondition(!verdict.improves || s < best, "a kept trial must lower the score (\(s) vs \(best))")
                        progress?(l, side, c, s, verdict.improves ? s : best)
                        if verdict.improves {
                            kept()
                            changes.append(Change(pass: pass, layer: table.layers[0][l].name, side: side,
                                                  from: table.names[current],
                                                  to: table.names[c], score: s))
                            best = s
                            choice = trial
                            changed = true
                        }
                    }
                }
            }
            if !changed { break }
        }
        return Result(choice: choice, score: best, changes: changes, evaluations: evaluations, passes: done)
    }

    static func sameThreshold(_ t: CandidateTable, layer l: Int, side: Side, _ a: Int, _ b: Int) -> Bool {
        let x = t.layers[a][l], y = t.layers[b][l]
        switch side {
        case .activation:
            return x.thresholds.activation == y.thresholds.activation && x.activationBits == y.activationBits
                && x.activationUnsigned == y.activationUnsigned
        case .weight:
            return x.thresholds.weight == y.thresholds.weight && x.thresholds.weightChannels == y.thresholds.weightChannels
                && x.thresholds.weightRounding == y.thresholds.weightRounding
                && x.weightBits == y.weightBits
        }
    }
}
