// BatchStatisticsReducer: the cross-replica sum a synchronised BatchNorm2d needs, injected from above.
//
// Data-parallel training gives every replica (MPI rank) its own share of the global batch. BatchNorm2d
// in train mode normally uses the statistics of the local share only ("per-rank BN"); with a reducer it
// sums its per-channel partial sums over the replicas and normalises with the statistics of the WHOLE
// global batch (synchronised BN, PyTorch's SyncBatchNorm). This module cannot see the communicator
// (DQSSDistributed depends on DQSSLayers, not the reverse), so the layer only knows this protocol;
// DQSSDistributed implements it over an allreduce.
//
// Element counts travel inside the summed buffer (as Doubles, exact up to 2^53), so replicas holding
// unequal shares of the batch still agree on the global count.

public protocol BatchStatisticsReducer: AnyObject {
    /// values[i] ← Σ over replicas of values[i], in place; the result is identical on every replica.
    /// A collective: every replica calls it the same number of times, in the same order, with the same
    /// `values.count` (two calls per train-mode forward and one per backward of each synchronised layer).
    func sum(_ values: inout [Double])
}
