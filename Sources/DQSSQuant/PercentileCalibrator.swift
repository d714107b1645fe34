// Percentile calibration (TensorRT / pytorch-quantization / ModelOpt "percentile"): T = the P-th
// percentile of |x|, so that a fraction 1 − P/100 of the values is clipped (P = 99.9, 99.99, 99.999).
//
// Percentile here is the nearest rank: of n values, the r-th smallest |x| with r = ⌈P/100 · n⌉ (at least
// 1), i.e. the smallest v with at least P % of the values ≤ v. P/100 · n is snapped to the nearest
// integer when within 1e-9 of it, because P = 99.99 is not a binary fraction (0.9999 · 10,000 would give
// r = 10,000 instead of 9,999).
//
// Weights: exact, on the sorted |W| (small tensors, fully known).
// Activations: on the 2048-bin |A| histogram of the second calibration pass (§3.2 step 1), the only
// statistic that merges exactly over calibration batches and MPI ranks without keeping every value:
// T = the right edge (k + 1)·w of the first bin k whose cumulative count reaches r. That is the exact
// percentile rounded up to the next bin edge (at most w = max|A|/2048 above it), so at least P % of the
// values stay unclipped. (pytorch-quantization returns the left edge k·w of that bin; the right one is
// the bound that keeps "clip at most 1 − P/100" true.)

import Foundation
import DQSSTensor

public struct PercentileCalibrator: WeightThresholdCalibrator {
    /// P, in (0, 100].
    public let percentile: Double

    public init(percentile: Double = PTQMethod.defaultPercentile) {
        precondition(percentile > 0 && percentile <= 100, "percentile \(percentile) outside (0, 100]")
        self.percentile = percentile
    }

    public var method: PTQMethod { .percentile(percentile) }
    public var requirements: StatisticRequirements { [.maxAbs, .histogram] }

    /// The nearest rank r = ⌈P/100 · n⌉ in 1...n (0 when n = 0), snapped as in the file header.
    public static func rank(percentile: Double, count n: Int) -> Int {
        guard n > 0 else { return 0 }
        let x = percentile / 100 * Double(n)
        let nearest = x.rounded()
        let r = abs(x - nearest) <= 1e-9 * max(1, x) ? nearest : x.rounded(.up)
        return min(n, max(1, Int(r)))
    }

    /// T_w: the r-th smallest |w| (0 for an empty tensor).
    public func weightThreshold(_ w: Tensor) -> Float {
        let sorted = w.array.map { abs($0) }.sorted()
        let r = Self.rank(percentile: percentile, count: sorted.count)
        return r == 0 ? 0 : sorted[r - 1]
    }

    public func weightThreshold(_ w: Tensor, quantizer: UniformQuantizer) -> Float { weightThreshold(w) }

    /// T_a: the right edge of the first bin where the cumulative count reaches the rank (0 when empty).
    public func activationThreshold(_ h: AbsHistogram) -> Float {
        let total = h.counts.reduce(0, +)
        let r = Double(Self.rank(percentile: percentile, count: Int(total)))
        guard r > 0 else { return 0 }
        var cumulative = 0.0
        for k in 0..<h.bins {
            cumulative += h.counts[k]
            if cumulative >= r {
                return k == h.bins - 1 ? h.range : Float(Double(k + 1) * h.binWidth)
            }
        }
        return h.range
    }

    public func thresholds(for data: LayerCalibrationData) throws -> LayerThresholds {
        guard let h = data.histogram else {
            throw CalibrationError.missingStatistic(layer: data.name, method: method.rawValue, what: "|A| histogram")
        }
        return LayerThresholds(weight: weightThreshold(data.layer.weight.value), activation: activationThreshold(h))
    }
}
