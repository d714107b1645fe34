// KL (TensorRT entropy calibration), ALGORITHMS.md §3.2, on a histogram of |x|, in Float64.
//
//   h[0] := h[1]                                        (zero spike; pytorch-quantization)
//   for i = i0 ... B (inclusive):
//     P = h[0..<i], P[i−1] += Σ_{k≥i} h[k]               (outliers folded into the last kept bin)
//     Q: indices 0..<i in nq groups, g(k) = ⌊k·nq / i⌋  (= digitize(k, linspace(0, i, nq+1)) − 1);
//        Q[k] = S_g / n_g where h[k] ≠ 0 (S_g: group mass, n_g: its non-empty bins), else 0
//     KL_i = Σ_{P[k]>0} p_k ln(p_k / q_k) on the normalised P, Q  (+∞ if some q_k = 0 < p_k)
//   i* = last argmin KL_i;  T = i* · w
//
// Float64 matters: the curve is flat near its minimum (§11.3: neighbours within 0.1 %).

import Foundation

/// The result of the entropy search, with the whole curve for diagnostics.
public struct KLSearchResult: Sendable {
    /// i*: number of kept bins.
    public let bestBins: Int
    /// T = i* · w.
    public let threshold: Double
    /// KL_{i*}.
    public let divergence: Double
    /// KL_i for i = startBin ... B (index i − startBin).
    public let divergences: [Double]
    public let startBin: Int
}

public enum KLDivergence {
    /// Entropy search on histogram `counts` with bin width `binWidth` (§3.2 steps 2–5).
    /// - Parameters:
    ///   - targetBins: nq (128 by default for signed and unsigned tensors, §3.2).
    ///   - startBin: i0 (128). Histograms with fewer bins than `startBin` use i0 = B.
    public static func search(counts: [Double], binWidth: Double, targetBins nq: Int = 128,
                              startBin: Int = 128) -> KLSearchResult {
        let B = counts.count
        precondition(B >= 2 && nq >= 1, "KL search needs at least 2 bins")
        var h = counts
        h[0] = h[1]
        let i0 = min(startBin, B)

        // suffix[i] = Σ_{k ≥ i} h[k]
        var suffix = [Double](repeating: 0, count: B + 1)
        for k in stride(from: B - 1, through: 0, by: -1) { suffix[k] = suffix[k + 1] + h[k] }

        var groupMass = [Double](repeating: 0, count: nq)
        var groupNonEmpty = [Int](repeating: 0, count: nq)
        var divergences = [Double](repeating: .infinity, count: B - i0 + 1)

        for i in i0...B {
            for g in 0..<nq { groupMass[g] = 0; groupNonEmpty[g] = 0 }
            var totalQ = 0.0
            for k in 0..<i {
                let g = k * nq / i
                groupMass[g] += h[k]
                if h[k] != 0 { groupNonEmpty[g] += 1 }
                totalQ += h[k]
            }
            let totalP = totalQ + suffix[i]   // P's mass includes the folded outliers
            if totalP <= 0 { continue }       // empty histogram: KL undefined, stays +∞
            var kl = 0.0
            var infinite = false
            for k in 0..<i {
                let pk = (k == i - 1) ? h[k] + suffix[i] : h[k]
                if pk <= 0 { continue }
                let g = k * nq / i
                let qk = h[k] != 0 ? groupMass[g] / Double(groupNonEmpty[g]) : 0
                if qk <= 0 { infinite = true; break }
                let p = pk / totalP, q = qk / totalQ
                kl += p * log(p / q)
            }
            divergences[i - i0] = infinite ? .infinity : kl
        }

        // Last argmin (ties → the largest i).
        var best = divergences.count - 1
        for j in stride(from: divergences.count - 1, through: 0, by: -1) where divergences[j] < divergences[best] {
            best = j
        }
        let bestBins = best + i0
        return KLSearchResult(bestBins: bestBins, threshold: Double(bestBins) * binWidth,
                              divergence: divergences[best], divergences: divergences, startBin: i0)
    }

    /// Entropy search on an `AbsHistogram` (bin width range / B). All-zero histograms give T = 0.
    public static func search(_ histogram: AbsHistogram, targetBins: Int = 128,
                              startBin: Int = 128) -> KLSearchResult {
        search(counts: histogram.counts, binWidth: histogram.binWidth, targetBins: targetBins,
               startBin: startBin)
    }

    /// T as a Float threshold (0 for an all-zero tensor).
    public static func threshold(_ histogram: AbsHistogram, targetBins: Int = 128) -> Float {
        if !(histogram.range > 0) { return 0 }
        return Float(search(histogram, targetBins: targetBins).threshold)
    }
}
