// What a SearchPipeline run found: the candidates' thresholds, every evaluation in pipeline order, each
// search's derived assignment with its θ, the selection scores and the refinement, and the final choice.

import DQSSQuant
import DQSSSearch

/// θ = softmax(α/τ), softmax(β/τ) of one layer at the end of a search (final τ), in candidate order.
public struct LayerTheta: Sendable, Equatable {
    public var activation: [Double]
    public var weight: [Double]
}

/// The result of `SearchPipeline.run`; `Evaluation` is the task's (see `SearchTask`).
public struct SearchPipelineResult<Evaluation> {
    /// One search (step 5): its settings, step records and timing, the derived assignment and its evaluation.
    public struct Search {
        public var settings: PTQSearchSettings
        public var records: [SearchStepRecord]
        /// Compute and allreduce time of the data-parallel run.
        public var timing: SearchTiming
        /// Wall-clock seconds of the search itself (derivation and evaluation excluded).
        public var seconds: Double
        /// Winner-take-all (Eq. 6) with α, β.
        public var assignment: StrategyAssignment
        public var theta: [LayerTheta]
        public var derived: Evaluation
    }

    /// Every candidate's per-layer thresholds (frozen after calibration, §6 step 2), in candidate order.
    public var table: CandidateTable
    /// Layer kinds ("Conv2d", "Linear") in module order.
    public var layerKinds: [String]
    public var fp32: Evaluation
    /// One evaluation per candidate, in candidate order.
    public var uniform: [Evaluation]
    public var dqssNone: Evaluation
    /// In the order run; the last is the main search (its derived assignment enters the selection).
    public var searches: [Search]
    /// §6.2 scores: every candidate by its label and "derived" (empty without held-out data).
    public var validationScores: [String: Double]
    /// One step of the pipeline (issue 18 item 3: what each step contributes): its wall time, the
    /// validation score of the network it produced and the validation passes it spent. Test-split
    /// evaluations (the report's rows) are not part of any phase's time.
    public struct Phase {
        /// "calibrate", "search (annealed)", "derive", "select", "refine" (or "refine from derived",
        /// "refine from EQ" with two starts), or a peer's label.
        public var name: String
        public var seconds: Double
        /// §6.2 score (lower is better) of the phase's network: the soft mixture at the search's final τ,
        /// the derived network, the selected start, the refined network, the peer's; nil for calibration.
        public var validationScore: Double?
        /// Networks scored on the validation images during the phase.
        public var validationPasses: Int
        /// Forward/backward batches over the calibration images (search steps, sensitivity passes).
        public var backwardPasses: Int
        /// The test-split evaluation of the phase's network, when it is a report row.
        public var evaluation: Evaluation?
    }

    /// A peer row (SearchPeer) from the same thresholds; its cost excludes the shared calibration and the
    /// test-split evaluation.
    public struct Peer {
        public var peer: SearchPeer
        /// Where it started: a candidate label (greedy), "sensitivity" (sensitivity-greedy), nil (sensitivity).
        public var start: String?
        public var choice: StrategyChoice
        public var validationScore: Double
        /// Wall time of the method: scoring its starts, its backward passes, its refinement.
        public var seconds: Double
        /// Networks the method scored on the validation images (its start's score included).
        public var validationPasses: Int
        /// FP32 forward/backward batches over the calibration images.
        public var backwardPasses: Int
        /// The refinement's kept changes (greedy peers).
        public var refinement: GreedyRefinement.Result?
        /// Per-layer, per-side scores of every candidate (sensitivity peers).
        public var sensitivity: SensitivityScores?
        /// True when the run is the DQSS refinement itself (DQSS selected the same uniform start) and was
        /// reused, not repeated; its time and passes are those of that refinement.
        public var sharedWithDQSS: Bool
        public var evaluation: Evaluation
        /// Its network's score on the selection images (SearchTask.hasSelectionData), for the report.
        public var selectionScore: Double? = nil
    }

    /// One greedy refinement of step 6 (RefinementStarts): where it started, its result and wall time.
    public struct Refinement {
        /// "derived", a candidate label, or "sensitivity" (RefinementStarts.all).
        public var start: String
        public var startScore: Double
        public var result: GreedyRefinement.Result
        public var seconds: Double
        /// Its network's score on the selection images (SearchTask.hasSelectionData): what decides `kept` then.
        public var selectionScore: Double? = nil
        /// True for the refinement whose network is final (the lower selection score, else final validation score).
        public var kept = false
        /// Its network's evaluation: the final one when kept; otherwise only in a run with peers.
        public var evaluation: Evaluation?
    }

    /// The selection: the start with the lowest validation score, "derived" or a candidate label.
    public var selectedStart: String
    /// Where the kept refinement started: `selectedStart`, or with RefinementStarts.both/.all possibly another start.
    public var refinedFrom: String
    /// The kept greedy refinement (nil without held-out data).
    public var refinement: GreedyRefinement.Result?
    /// Every refinement run, in run order: the best start's first (empty without held-out data).
    public var refinements: [Refinement] = []
    /// The final per-layer choice: selected and refined, or the main search's derived one.
    public var final: StrategyChoice
    public var finalEvaluation: Evaluation
    /// Seconds per phase: "calibration", "evaluation", "search", "selection", "peers".
    public var timings: [String: Double]
    /// The steps in run order with their time and validation score (empty without held-out data, except
    /// calibrate and search).
    public var phases: [Phase] = []
    /// The peer rows, in SearchPeer order (empty with no peers or no held-out data).
    public var peers: [Peer] = []

    /// The main (last) search.
    public var main: Search { searches[searches.count - 1] }
    /// The final network's per-layer quantization (plain §1 quantizers).
    public var finalQuantization: [LayerQuantization] { table.quantization(final) }
    /// Candidate label -> number of layers whose final activation (weight) choice it is.
    public var finalActivationCounts: [String: Int] { counts(final.activation) }
    public var finalWeightCounts: [String: Int] { counts(final.weight) }

    func counts(_ choices: [Int]) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: table.names.indices.map { c in (table.names[c], choices.filter { $0 == c }.count) })
    }
}
