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

/// Scores the trials of the greedy refinement (GreedyRefinement.refine's trialScore/kept pair).
public protocol RefinementScorer: AnyObject {
    /// The score of `network` as quantized now, which differs from the current network in layer `layer` only.
    func score(_ network: any UnaryLayer, changedLayer layer: Int) -> Double
    /// The last scored network is the current one from now on (the refinement kept its change).
    func keepLastTrial()
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

    /// nil when the network is a single stage (nothing to reuse) or a quantized layer is in no stage.
    public init?(network: any UnaryLayer, points: [QuantizationPoint], divergence: ValidationDivergence) {
        let stages = Self.stages(of: network)
        guard stages.count > 1 else { return nil }
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
        network.setTraining(false)
        let changed = stageOf[layer]
        // Start from the latest stage at or before the changed one whose input is cached (stage 0: the images).
        var start = changed
        while start > 0 && cache[start] == nil { start -= 1 }
        let score = divergence.score { b, batch in
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
        return score
    }

    public func keepLastTrial() {
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
