// StagedValidationScore: the §6.2 validation score for the greedy refinement, with the unchanged prefix of
// the network reused between trials.
//
// A refinement trial changes one side of one layer l. Everything the network computes before the stage
// holding l is the same as in the current (kept) network, so the input of that stage, for every
// validation batch, can be taken from a cache instead of being recomputed. The network is cut into stages
// along its chain structure: a SequentialModel's body and every nested Sequential are flattened, anything
// else (a residual block, a pool) is one stage. Per trial the stages from l's stage onward run; the inputs
// they see are written into a second set of buffers, which become the cache for the stages up to l's
// (valid whatever the verdict: their inputs do not depend on l) and, when the change is kept, for every
// stage after it. The stages run exactly the operations of a full forward on the same batches, so every
// score equals ValidationDivergence.score to the bit (checked by StagedValidationScoreTests against the
// full pass); on the CIFAR ResNets a trial runs about half the network on average.
// Memory: two copies of every stage input over the validation images (ResNet-44, 1,000 images: ~1.6 GB).

import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSModels
import DQSSSearch

/// Scores the trials of the greedy refinement (GreedyRefinement.refine's trialScore/kept pair).
public protocol RefinementScorer: AnyObject {
    /// The score of `network` as quantized now, which differs from the current network in layer `layer` only.
    func score(_ network: any UnaryLayer, changedLayer layer: Int) -> Double
    /// The last scored network is the current one from now on (the refinement kept its change).
    func keepLastTrial()
    /// Called once before the trials with the refinement's start installed.
    func begin(_ network: any UnaryLayer)
    /// Scores `network` (as `score`) and says whether the refinement keeps it against the current network,
    /// whose score is `current`.
    func verdict(_ network: any UnaryLayer, changedLayer layer: Int, current: Double) -> GreedyRefinement.Verdict
}

extension RefinementScorer {
    public func begin(_ network: any UnaryLayer) {}
    /// The plain rule: kept when the score is lower.
    public func verdict(_ network: any UnaryLayer, changedLayer layer: Int, current: Double) -> GreedyRefinement.Verdict {
        let s = score(network, changedLayer: layer)
        return GreedyRefinement.Verdict(score: s, improves: s < current)
    }
}

public final class StagedValidationScore: RefinementScorer {
    public let divergence: ValidationDivergence
    /// The network's chain of stages (a full forward is these, in order).
    public let stages: [any UnaryLayer]
    /// stageOf[l]: the stage holding quantized layer l.
    public let stageOf: [Int]
    /// cache[s][b]: the input of stage s (s ≥ 1) for validation batch b in the current network; nil: not yet known.
    private var cache: [[Tensor]?]
    /// The inputs the last trial's stages saw (same layout), and the stage it changed.
    private var trial: [[Tensor]?]
    private var trialStage = 0
    /// Stage forwards run over all trials (one per stage and batch): what the reuse saves, for tests and logs.
    public private(set) var stageForwards = 0
    /// The significance gate (`--refine-significance`, PairedImprovement): a trial is kept only when its
    /// per-image scores are lower than the current network's by more than `significance` standard errors.
    /// nil: the plain rule. Scores are then the mean of the per-image KL values (Float64 throughout).
    public let significance: Double?
    /// The current network's and the last trial's per-image scores on this rank (gate only).
    private var currentPerImage: [Double]?
    private var trialPerImage: [Double] = []

    /// nil when the network is a single stage (nothing to reuse; with the gate it still scores, stage by stage
    /// being a full forward) or a quantized layer is in no stage.
    public init?(network: any UnaryLayer, points: [QuantizationPoint], divergence: ValidationDivergence,
                 significance: Double? = nil) {
        let stages = Self.stages(of: network)
        guard stages.count > 1 || significance != nil else { return nil }
        var stageOfLayer: [ObjectIdentifier: Int] = [:]
        for (s, stage) in stages.enumerated() {
            for entry in stage.namedLayers() { stageOfLayer[ObjectIdentifier(entry.layer as AnyObject)] = s }
        }
        var stageOf: [Int] = []
        for p in points {
            guard let s = stageOfLayer[ObjectIdentifier(p.layer as AnyObject)] else { return nil }
            stageOf.append(s)
        }
        self.divergence = divergence
        self.significance = significance
        self.stages = stages
        self.stageOf = stageOf
        cache = Array(repeating: nil, count: stages.count)
        trial = Array(repeating: nil, count: stages.count)
    }

    /// The chain a full forward of `layer` runs: SequentialModel bodies and Sequentials flattened.
    static func stages(of layer: any UnaryLayer) -> [any UnaryLayer] {
        if let m = layer as? any SequentialModel { return m.body.layers.flatMap { stages(of: $0.layer) } }
        if let s = layer as? Sequential { return s.layers.flatMap { stages(of: $0.layer) } }
        return [layer]
    }

    public func score(_ network: any UnaryLayer, changedLayer layer: Int) -> Double {
        guard significance != nil else { return runTrial(network, changedLayer: layer) { divergence.score(logits: $0) } }
        trialPerImage = runTrial(network, changedLayer: layer) { divergence.perImage(logits: $0) }
        return divergence.mean(trialPerImage)
    }

    public func begin(_ network: any UnaryLayer) {
        guard significance != nil else { return }
        // The start's per-image scores, its stage inputs cached as a kept trial's.
        _ = score(network, changedLayer: 0)
        keepLastTrial()
    }

    public func verdict(_ network: any UnaryLayer, changedLayer layer: Int, current: Double) -> GreedyRefinement.Verdict {
        let s = score(network, changedLayer: layer)
        guard let z = significance, let currentPerImage else {
            return GreedyRefinement.Verdict(score: s, improves: s < current)
        }
        let d = divergence.paired(trial: trialPerImage, current: currentPerImage)
        return GreedyRefinement.Verdict(score: s, improves: s < current && d.isImprovement(z: z))
    }

    /// Runs the stages a trial changing `layer` needs; `evaluate` gets the logits of every batch.
    private func runTrial<T>(_ network: any UnaryLayer, changedLayer layer: Int,
                             _ evaluate: ((Int, Tensor) -> Tensor) -> T) -> T {
        network.setTraining(false)
        let changed = stageOf[layer]
        // Start from the latest stage at or before the changed one whose input is cached (stage 0: the images).
        var start = changed
        while start > 0 && cache[start] == nil { start -= 1 }
        let result = evaluate { b, batch in
            var x = start == 0 ? batch : cache[start]![b]
            for s in start..<stages.count {
                if s > start { x = record(x, stage: s, batch: b) }
                x = stages[s].forward(x)
                stageForwards += 1
            }
            return x
        }
        // Stage inputs up to the changed stage do not depend on the change: they are the current network's.
        if start < changed {
            for s in (start + 1)...changed { swap(&cache[s], &trial[s]) }
        }
        trialStage = changed
        return result
    }

    public func keepLastTrial() {
        if significance != nil { currentPerImage = trialPerImage }
        // Every stage input after the changed stage was recomputed by the kept trial.
        guard trialStage + 1 < stages.count else { return }
        for s in (trialStage + 1)..<stages.count { swap(&cache[s], &trial[s]) }
    }

    /// Copy `x`, stage s's input for batch b, into the trial buffers and continue from the copy (the stage
    /// before may reuse its output buffer on the next batch).
    private func record(_ x: Tensor, stage s: Int, batch b: Int) -> Tensor {
        if trial[s] == nil { trial[s] = divergence.batches.map { _ in Tensor(shape: [0]) } }
        let t = trial[s]![b]
        if t.shape != x.shape { _ = t.resize(to: x.shape) }
        t.data.update(from: x.data, count: x.count)
        return t
    }
}
