import Testing
import DQSSTensor
import DQSSQuant

@Suite("Percentile calibration")
struct PercentileCalibratorTests {
    @Test("nearest rank ⌈P/100·n⌉: 99.99 % of 10,000 is 9,999 (not 10,000: 99.99 is not a binary fraction)")
    func rank() {
        #expect(PercentileCalibrator.rank(percentile: 99.99, count: 10_000) == 9_999)
        #expect(PercentileCalibrator.rank(percentile: 99.9, count: 1_000) == 999)
        #expect(PercentileCalibrator.rank(percentile: 99.999, count: 100_000) == 99_999)
        #expect(PercentileCalibrator.rank(percentile: 99.99, count: 10_001) == 10_000)   // 10,000.0001 → up
        #expect(PercentileCalibrator.rank(percentile: 50, count: 4) == 2)
        #expect(PercentileCalibrator.rank(percentile: 100, count: 7) == 7)
        #expect(PercentileCalibrator.rank(percentile: 0.001, count: 10) == 1)
        #expect(PercentileCalibrator.rank(percentile: 99.99, count: 0) == 0)
    }

    @Test("weights: the exact percentile of |w| on ±1 … ±1000 (shuffled signs): P99.9 → 999, P99 → 990, P100 → 1000")
    func weightsKnownSet() {
        var rng = RNG(seed: 3)
        let order = rng.permutation(1000)
        let w = Tensor(shape: [10, 100], values: order.map { Float($0 + 1) * ($0 % 3 == 0 ? -1 : 1) })
        #expect(PercentileCalibrator(percentile: 99.9).weightThreshold(w) == 999)
        #expect(PercentileCalibrator(percentile: 99).weightThreshold(w) == 990)
        #expect(PercentileCalibrator(percentile: 100).weightThreshold(w) == 1000)
        #expect(PercentileCalibrator(percentile: 0.1).weightThreshold(w) == 1)
    }

    @Test("hand-computed histogram [5, 3, 0, 2] over [0, 4]: P50 → 1, P80 → 2, P80.0001 and P90 → 4")
    func histogramByHand() {
        let h = AbsHistogram(range: 4, counts: [5, 3, 0, 2])
        #expect(PercentileCalibrator(percentile: 50).activationThreshold(h) == 1)
        #expect(PercentileCalibrator(percentile: 80).activationThreshold(h) == 2)
        #expect(PercentileCalibrator(percentile: 80.0001).activationThreshold(h) == 4)
        #expect(PercentileCalibrator(percentile: 90).activationThreshold(h) == 4)
        #expect(PercentileCalibrator(percentile: 99.99).activationThreshold(AbsHistogram(range: 4, bins: 4)) == 0)
    }

    @Test("activations on 1 … 10,000 (2048 bins): the right edge of the bin holding the exact percentile",
          arguments: [99.0, 99.9, 99.99])
    func histogramKnownSet(p: Double) {
        let values = (1...10_000).map { Float($0) }
        var h = AbsHistogram(range: 10_000, bins: 2048)
        h.observe(Tensor(shape: [values.count], values: values))
        let exact = Float(PercentileCalibrator.rank(percentile: p, count: 10_000))   // the r-th smallest is r
        let t = PercentileCalibrator(percentile: p).activationThreshold(h)
        let w = Float(10_000.0 / 2048)
        #expect(t >= exact && t - exact <= w, "P\(p): T = \(t), exact \(exact)")
        // Exactly a bin edge: (k + 1)·w for the bin k that holds the exact value.
        let k = Int(Double(exact) / h.binWidth)
        #expect(t == (k == 2047 ? 10_000 : Float(Double(k + 1) * h.binWidth)))
    }

    @Test("order of calibration batches and merging of per-batch histograms do not change T")
    func mergeInvariance() {
        var rng = RNG(seed: 9)
        let batches = (0..<4).map { _ in Tensor.normal([500], rng: &rng) }
        let range = batches.map { $0.maxAbs() }.max()!
        var whole = AbsHistogram(range: range), merged = AbsHistogram(range: range)
        for b in batches { whole.observe(b) }
        for b in batches.reversed() { var part = AbsHistogram(range: range); part.observe(b); merged.merge(part) }
        let c = PercentileCalibrator(percentile: 99.9)
        #expect(c.activationThreshold(whole) == c.activationThreshold(merged))
    }
}
