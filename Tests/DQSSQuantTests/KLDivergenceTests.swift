import Testing
import Foundation
import DQSSTensor
import DQSSQuant

/// ALGORITHMS.md §11.3 histogram-level oracles (bin width 1/2048, i.e. max = 1).
@Suite("KL entropy calibration")
struct KLDivergenceTests {
    let w = 1.0 / 2048

    @Test("§11.3: uniform histogram → i* = 2048, T = 1; KL at i = 128 ≈ 4.31917")
    func uniform() {
        let r = KLDivergence.search(counts: [Double](repeating: 5, count: 2048), binWidth: w)
        #expect(r.bestBins == 2048)
        #expect(r.threshold == 1.0)
        #expect(r.divergence == 0)
        #expect(abs(r.divergences[0] - 4.31917) < 1e-5, "\(r.divergences[0])")
    }

    @Test("§11.3: linearly decreasing h[k] = 2048 − k → i* = 2044, T = 0.998046875")
    func linear() {
        let r = KLDivergence.search(counts: (0..<2048).map { Double(2048 - $0) }, binWidth: w)
        #expect(r.bestBins == 2044)
        #expect(r.threshold == 0.998046875)
    }

    @Test("§11.3 (Float64 case): exponential with one outlier → i* = 537 exactly, T = 0.26220703125")
    func exponentialWithOutlier() {
        var h = (0..<2048).map { floor(1e6 * exp(-Double($0) / 50)) }
        #expect(h[690] > 0 && h[691] == 0)
        h[2047] = 1
        let r = KLDivergence.search(counts: h, binWidth: w)
        #expect(r.bestBins == 537)
        #expect(r.threshold == 0.26220703125)
        #expect(abs(r.divergence - 3.3443e-4) < 5e-8, "\(r.divergence)")
        // The neighbours named by the oracle are within 0.1 % (why Float64 is needed).
        for i in [544, 533, 536] {
            let kl = r.divergences[i - r.startBin]
            #expect(kl > r.divergence && kl < r.divergence * 1.001, "KL_\(i) = \(kl)")
        }
    }

    @Test("last argmin: equal divergences pick the largest i")
    func lastArgmin() {
        // Empty beyond bin 200 except nothing: every i ≥ 201 has P = h[0..<i] with trailing zeros;
        // KL is identical for all i whose groups agree, so ties must resolve to the largest such i.
        var h = [Double](repeating: 0, count: 256)
        for k in 0..<128 { h[k] = 1 }
        let r = KLDivergence.search(counts: h, binWidth: 1)
        let minimum = r.divergences.min()!
        let last = r.divergences.lastIndex(of: minimum)! + r.startBin
        #expect(r.bestBins == last)
    }

    @Test("property: T ≤ max|x| always; data flat to the end gives T = max|x|")
    func boundedByMax() {
        var rng = RNG(seed: 11)
        for trial in 0..<5 {
            let t = Tensor.normal([5000], std: Float(trial + 1), rng: &rng)
            let h = AbsHistogram.of(t)
            let threshold = KLDivergence.threshold(h)
            #expect(threshold <= t.maxAbs())
            #expect(threshold > 0)
        }
        // |x| uniform on [0, 2] with max exactly 2: flat histogram to the end.
        let flat = Tensor(shape: [2048 * 4], values: (0..<(2048 * 4)).map { Float($0 + 1) / Float(2048 * 2) })
        #expect(flat.maxAbs() == 2)
        #expect(KLDivergence.threshold(AbsHistogram.of(flat)) == 2)
    }

    @Test("histograms merged in any batch order give identical counts and thresholds")
    func orderInvariance() {
        var rng = RNG(seed: 12)
        let batches = (0..<5).map { _ in Tensor.normal([3, 50], rng: &rng) }
        var m = MaxAbsStatistic()
        for b in batches { m.observe(b) }
        var forward = AbsHistogram(range: m.maxAbs), backward = AbsHistogram(range: m.maxAbs)
        for b in batches { forward.observe(b) }
        for b in batches.reversed() { var part = AbsHistogram(range: m.maxAbs); part.observe(b); backward.merge(part) }
        #expect(forward == backward)
        #expect(KLDivergence.threshold(forward) == KLDivergence.threshold(backward))
        #expect(forward.counts.reduce(0, +) == 750)
    }

    @Test("a value equal to the range lands in the last bin; all-zero tensors give T = 0")
    func edges() {
        var h = AbsHistogram(range: 2, bins: 4)
        h.observe(Tensor(shape: [4], values: [0, 0.5, -1.99, 2]))
        #expect(h.counts == [1, 1, 0, 2])
        #expect(KLDivergence.threshold(AbsHistogram.of(Tensor(shape: [10]))) == 0)
    }
}
