// Synchronised BatchNorm over the ranks of a job: DQSSLayers' BatchStatisticsReducer as an allreduce.
//
// Every BatchNorm2d given this reducer normalises with the statistics of the global batch (all ranks'
// shares) instead of its rank's share: two allreduces per train-mode forward (1 + C and C Doubles: Σx
// with the count, then Σ(x − μ)²) and one of 2C per backward, per BN layer (ResNet-20: 19 layers, C ≤ 64,
// at most 1 KB per call; the cost is the call latency, not the bytes). Worth it when the per-rank batch is small enough for per-rank statistics
// to be noisy, and required for a data-parallel run to equal the one-process run of the same global batch.

import DQSSTensor
import DQSSLayers

public final class CommunicatorStatisticsReducer: BatchStatisticsReducer {
    public let communicator: any Communicator
    /// Allreduce calls made and Float64 bytes sent into them (instrumentation).
    public private(set) var calls = 0
    public private(set) var bytes = 0

    public init(communicator: any Communicator) {
        self.communicator = communicator
    }

    public func sum(_ values: inout [Double]) {
        communicator.allreduce(&values, .sum)
        calls += 1
        bytes += values.count * MemoryLayout<Double>.stride
    }
}

public enum SynchronisedBatchNorm {
    /// Give every BatchNorm2d in `model`'s tree `reducer` (nil: back to per-rank statistics); returns how
    /// many layers were set. Every rank must do the same to the same model.
    @discardableResult
    public static func install(_ reducer: (any BatchStatisticsReducer)?, in model: any Layer) -> Int {
        var count = 0
        for entry in model.namedLayers() {
            if let bn = entry.layer as? BatchNorm2d {
                bn.statisticsReducer = reducer
                count += 1
            }
        }
        return count
    }

    /// Average every BatchNorm2d's running mean and variance in `model` over the ranks (per-rank BN after a
    /// statistics-only pass such as BatchNormRecalibration, so that every replica evaluates the same
    /// network). Every rank must call it on the same model. Returns how many layers were averaged.
    @discardableResult
    public static func averageRunningStatistics(in model: any Layer, communicator: any Communicator) -> Int {
        let layers = model.namedLayers().compactMap { $0.layer as? BatchNorm2d }
        guard communicator.size > 1 else { return layers.count }
        for bn in layers {
            for t in [bn.runningMean, bn.runningVar] {
                communicator.allreduce(t.data, count: t.count, .sum)
                t.scale(by: 1 / Float(communicator.size))
            }
        }
        return layers.count
    }
}
