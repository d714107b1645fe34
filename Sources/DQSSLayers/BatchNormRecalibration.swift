// Re-estimating BatchNorm running statistics for a network whose layers changed after BN last tracked them:
// the derived (winner-take-all) network after a QAT search, whose layers see other activations than the
// soft mixture the statistics were tracked on (ALGORITHMS.md §7.4 leaves the derived network as it is;
// this is the optional step beyond it, as in one-shot NAS "BN calibration").
//
// Forward only, no gradient, no parameter update; only the BatchNorm2d layers switch to train mode (the
// quantizer hooks and every other layer stay in eval mode). Batch k (1-based) uses momentum 1/k, so the
// running mean and variance end as the plain average of the K batch means and unbiased batch variances,
// whatever they were before. A BN layer with a statistics reducer (synchronised BN) takes each batch's
// statistics over every replica, so all replicas end with the same values.

import DQSSTensor

public enum BatchNormRecalibration {
    /// Re-estimate every BatchNorm2d of `model` from `batchCount` batches; `batch(k)` returns the k-th
    /// input (0-based). Restores each layer's momentum and mode afterwards. Returns the number of BN layers.
    @discardableResult
    public static func reestimate(_ model: any UnaryLayer, batchCount: Int, batch: (Int) throws -> Tensor) rethrows -> Int {
        precondition(batchCount >= 1, "BatchNorm re-estimation needs at least one batch")
        let layers = model.namedLayers().compactMap { $0.layer as? BatchNorm2d }
        let saved = layers.map { (momentum: $0.momentum, training: $0.isTraining) }
        for bn in layers { bn.isTraining = true }
        defer {   // also when a batch cannot be read: the layers get their mode and momentum back
            for (bn, s) in zip(layers, saved) {
                bn.momentum = s.momentum
                bn.isTraining = s.training
            }
        }
        for k in 0..<batchCount {
            for bn in layers { bn.momentum = 1 / Float(k + 1) }
            _ = model.forward(try batch(k))
        }
        return layers.count
    }
}
