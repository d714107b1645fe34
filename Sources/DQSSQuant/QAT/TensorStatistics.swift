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
        // One serial pass (warm-up only): max|x|, min x, Σ|x| in Float64.
        var mx: Float = 0, mn = Float.infinity
        var sum = 0.0
        for i in 0..<count {
            let v = x[i]
            mx = max(mx, abs(v)); mn = min(mn, v); sum += Double(abs(v))
        }
        let batchMean = count > 0 ? Float(sum / Double(count)) : 0
        if batches == 0 {
            maxAbs = mx; meanAbs = batchMean
        } else {
            maxAbs = momentum * maxAbs + (1 - momentum) * mx
            meanAbs = momentum * meanAbs + (1 - momentum) * batchMean
        }
        minimum = min(minimum, mn)
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
