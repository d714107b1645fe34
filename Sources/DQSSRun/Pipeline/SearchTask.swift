// What a DQSS PTQ search pipeline (SearchPipeline) needs from its task: how a network is evaluated for
// the report (classification top-1 on the test split, PSNR/SSIM on SR test sets, nothing at all in the
// mpirun self-check), how it is scored for the §6.2 selection (label-free, on held-out data; lower is
// better), and which loss the α/β search minimises on the calibration data (SearchLoss).

import DQSSLayers
import DQSSQuant
import DQSSSearch

/// A network the pipeline evaluates, in pipeline order: the report's rows.
public enum SearchStage: Sendable, Equatable {
    /// The unquantized network (step 1).
    case fp32
    /// One candidate on every layer and both sides (step 3), by its label ("Max_Abs").
    case uniform(String)
    /// The soft mixture with θ = 1/N everywhere (§6.1).
    case dqssNone
    /// The winner-take-all network (Eq. 6) of a search with this schedule (step 5).
    case derived(SearchSchedule)
    /// The selected and greedily refined network (§6.2), when it is not one evaluated already.
    case refined
    /// A refinement from another start (RefinementStarts.both/.all) that was not kept, by its start's label;
    /// evaluated only in a run with peers.
    case refinedFrom(String)
    /// A peer of the search (SearchPeer: greedy from uniform, sensitivity selection, ...), by its row label.
    case peer(String)
}

/// The task-specific parts of the search pipeline: evaluation, selection score and search loss.
public protocol SearchTask {
    /// What one evaluation yields (a top-1 count, a row of PSNR/SSIM per set, `Void`).
    associatedtype Evaluation

    /// Evaluate `network` as the pipeline has quantized it for `stage`; called on every rank.
    func evaluate(_ network: any UnaryLayer, _ stage: SearchStage) throws -> Evaluation

    /// Whether there is held-out data to score networks on. Without it the derived network of the last
    /// search is final (no selection, no refinement) and `score` is never called.
    var hasHeldOutData: Bool { get }

    /// The §6.2 selection score of `network` on the held-out data (lower is better).
    func score(_ network: any UnaryLayer) -> Double

    /// What the selection's log line says it scored on ("48 validation images (KL to FP32)").
    var scoreDescription: String { get }

    /// Whether there are selection images: held-out data disjoint from the validation images that chooses
    /// between the refined networks (and scores the peers' for the report). A refinement's validation score
    /// is biased low by the trials it kept on those very images, so two refinements' scores there do not
    /// rank them fairly; a score on data none of them saw does.
    var hasSelectionData: Bool { get }

    /// The score of `network` on the selection images (lower is better); only called when `hasSelectionData`.
    func selectionScore(_ network: any UnaryLayer) -> Double

    /// The loss of every search the pipeline runs.
    var loss: any SearchLoss { get }

    /// True: the refined network gets its own evaluation even when it equals a network evaluated before
    /// (a report that shows one row per stage); false: that evaluation is reused.
    var evaluatesRefinedNetwork: Bool { get }

    /// A scorer for the greedy refinement's trials that reuses work between them and gives exactly
    /// `score`'s values (StagedValidationScore); nil: `score` on every trial. With `significance` (the
    /// gate, PairedImprovement) it scores per image; a task without per-image scores returns nil, and the
    /// pipeline refuses the gate for it.
    func refinementScorer(_ network: any UnaryLayer, points: [QuantizationPoint], significance: Double?) -> (any RefinementScorer)?
}

extension SearchTask {
    public var hasSelectionData: Bool { false }
    public func selectionScore(_ network: any UnaryLayer) -> Double { score(network) }
    public var evaluatesRefinedNetwork: Bool { false }
    public func refinementScorer(_ network: any UnaryLayer, points: [QuantizationPoint], significance: Double?) -> (any RefinementScorer)? { nil }
}
