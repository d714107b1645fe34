// The QAT trainer's `GradientReducer` over the ranks of an MPI job: BucketedGradientReducer (few large
// allreduce calls, DQSSDistributed) conforms to it.
//
// QATTrainer gives every rank a batch of the same size B (global batch = B × ranks), so the gradient of
// the mean loss over the global batch is the plain mean over ranks, g = (1/R) Σ_r g_r: each rank's
// share is 1 of R. Metrics (loss·n, correct, n) are summed.

import DQSSLayers
import DQSSDistributed

extension BucketedGradientReducer: GradientReducer {
    public func reduceGradients(_ parameters: [Parameter]) throws {
        averageGradients(parameters, localCount: 1, globalCount: communicator.size)
    }

    public func reduceMetrics(_ values: [Double]) throws -> [Double] { sum(values) }
}
