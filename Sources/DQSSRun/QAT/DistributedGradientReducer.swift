// The QAT trainer's `GradientReducer` over the ranks of an MPI job: BucketedGradientReducer (few large
// allreduce calls, DQSSDistributed) conforms to it; when it overlaps the model's backward (QATRun sets
// that up), `backwardWillStart` arms it and the buckets are reduced while backward runs.
//
// QATTrainer gives every rank a batch of the same size B (global batch = B × ranks), so the gradient of
// the mean loss over the global batch is the plain mean over ranks, g = (1/R) Σ_r g_r: each rank's
// share is 1 of R. Metrics (loss·n, correct, n) are summed.
//
// Observed quantizer statistics (warm-up EMAs, §7.3) are combined before they initialise the quantizers:
// M_x (EMA of batch maxima) by max, μ_x by mean over ranks, the minimum by min, batch counts summed. Every
// replica then initialises identically (the trainer re-derives the activation quantizers from the
// combined statistics). BatchNorm statistics stay per rank unless --sync-bn, which also combines every
// warm-up observation as it is made (CommunicatorObservationReducer, below).

import DQSSLayers
import DQSSDistributed
import DQSSQuant

extension BucketedGradientReducer: GradientReducer {
    public func backwardWillStart(_ parameters: [Parameter]) throws {
        beginBackward(parameters, localCount: 1, globalCount: communicator.size)
    }

    public func reduceGradients(_ parameters: [Parameter]) throws {
        averageGradients(parameters, localCount: 1, globalCount: communicator.size)
    }

    public func reduceMetrics(_ values: [Double]) throws -> [Double] { sum(values) }

    public func synchronizeStatistics(_ statistics: [TensorStatistics]) throws -> [TensorStatistics] {
        if communicator.size == 1 { return statistics }
        var maxima = statistics.map(\.maxAbs), means = statistics.map(\.meanAbs), minima = statistics.map(\.minimum)
        var batches = statistics.map { Int64($0.batches) }
        communicator.allreduce(&maxima, .max)
        communicator.allreduce(&means, .sum)
        communicator.allreduce(&minima, .min)
        communicator.allreduce(&batches, .sum)
        let r = Float(communicator.size)
        return statistics.indices.map { i in
            var s = statistics[i]
            s.maxAbs = maxima[i]
            s.meanAbs = means[i] / r
            s.minimum = minima[i]
            s.batches = Int(batches[i])
            return s
        }
    }
}

/// Warm-up observations combined over the ranks of an MPI job (--sync-bn): max|x| and min x by max
/// (min as the max of −x), Σ|x| and the count by sum; two allreduces of 2 Doubles per observed activation.
/// With equal shares this is exactly what one process observes on the global batch (up to the order of
/// the Σ|x| summation).
public final class CommunicatorObservationReducer: ObservationReducer {
    public let communicator: any Communicator
    public init(communicator: any Communicator) { self.communicator = communicator }

    public func combine(_ local: BatchObservation) -> BatchObservation {
        var extremes = [Double(local.maxAbs), -Double(local.minimum)]
        var sums = [local.sumAbs, local.count]
        communicator.allreduce(&extremes, .max)
        communicator.allreduce(&sums, .sum)
        return BatchObservation(maxAbs: Float(extremes[0]), minimum: Float(-extremes[1]), sumAbs: sums[0], count: sums[1])
    }
}
