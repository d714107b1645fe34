// TensorStatistics: what the QAT warm-up observes about a tensor (ALGORITHMS.md §4 preamble, §7.3):
//   M_x = EMA of the per-batch max|x|, μ_x = EMA of the per-batch mean|x| (momentum 0.9, the first batch
//   initialises), and whether every value seen so far was ≥ 0 (unsigned activation, §1.1).
// For weights the statistics are those of W itself (one "batch").

import DQSSTensor

public struct TensorStatistics: Sendable, Equatable, Codable {
    /// M_x.
    public var maxAbs: Float
    /// μ_x.
    public var meanAbs: Float
    /// Smallest value seen (not averaged).
    public var minimum: Float
    /// Number of batches observed.
    public var batches: Int
    /// EMA momentum (0.9).
    public var momentum: Float

    public init(maxAbs: Float = 0, meanAbs: Float = 0, minimum: Float = .infinity, batches: Int = 0,
                momentum: Float = 0.9) {
        self.maxAbs = maxAbs; self.meanAbs = meanAbs; self.minimum = minimum
        self.batches = batches; self.momentum = momentum
    }

    /// Every observed value was ≥ 0.
    public var isNonNegative: Bool { minimum >= 0 }

    /// Fold one batch in: M ← 0.9 M + 0.1 max|x| (first batch: M ← max|x|), likewise μ.
    public mutating func observe(_ x: UnsafePointer<Float>, count: Int) {
        fold(BatchObservation(x, count: count))
    }

    /// Fold in one batch's observation (this replica's, or the whole global batch's when combined).
    public mutating func fold(_ b: BatchObservation) {
        let batchMean = b.count > 0 ? Float(b.sumAbs / b.count) : 0
        if batches == 0 {
            maxAbs = b.maxAbs; meanAbs = batchMean
        } else {
            maxAbs = momentum * maxAbs + (1 - momentum) * b.maxAbs
            meanAbs = momentum * meanAbs + (1 - momentum) * batchMean
        }
        minimum = min(minimum, b.minimum)
        batches += 1
    }

    public mutating func observe(_ t: Tensor) { observe(t.data, count: t.count) }

    /// The statistics of one tensor (weights: M = max|W|, μ = mean|W|).
    public static func of(_ t: Tensor) -> TensorStatistics {
        var s = TensorStatistics()
        s.observe(t)
        return s
    }
}

/// What one observed batch contributes: max|x|, min x, Σ|x| and the element count. Replicas of a
/// data-parallel run combine these (max, min, sum, sum) into the global batch's before folding them in.
public struct BatchObservation: Sendable, Equatable {
    public var maxAbs: Float
    public var minimum: Float
    public var sumAbs: Double
    /// Element count (a Double: it is summed over replicas with Σ|x|).
    public var count: Double

    public init(maxAbs: Float, minimum: Float, sumAbs: Double, count: Double) {
        self.maxAbs = maxAbs; self.minimum = minimum; self.sumAbs = sumAbs; self.count = count
    }

    /// One serial pass (warm-up only): max|x|, min x, Σ|x| in Float64.
    public init(_ x: UnsafePointer<Float>, count: Int) {
        var mx: Float = 0, mn = Float.infinity
        var sum = 0.0
        for i in 0..<count {
            let v = x[i]
            mx = max(mx, abs(v)); mn = min(mn, v); sum += Double(abs(v))
        }
        self.init(maxAbs: mx, minimum: mn, sumAbs: sum, count: Double(count))
    }
}

/// Combines one activation batch observation over the replicas of a data-parallel run (every replica
/// calls it for the same hooks in the same order: a collective). Why per forward and not only once at the
/// end of the warm-up: the observing forward quantizes with the statistics seen so far, layer after
/// layer, so a later layer's input depends on the earlier layers' thresholds; with per-replica thresholds
/// the observed inputs themselves would differ from the one-process run's.
public protocol ObservationReducer: AnyObject {
    func combine(_ local: BatchObservation) -> BatchObservation
}
