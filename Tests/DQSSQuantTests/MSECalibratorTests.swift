import Testing
import DQSSTensor
import DQSSQuant

/// Float64 reference of the §1 quantizer, written independently of UniformQuantizer.
private func quantized64(_ x: Double, threshold t: Double, qmax: Int, unsigned: Bool) -> Double {
    let s = t / Double(qmax)
    let q = min(max((x / s).rounded(.toNearestOrEven), unsigned ? 0 : -Double(qmax)), Double(qmax))
    return s * q
}

/// Σ count·(c − Q(c))² in Float64.
private func error64(_ values: [Double], counts: [Double], threshold: Double, qmax: Int, unsigned: Bool) -> Double {
    zip(values, counts).reduce(0) { sum, vc in
        let e = vc.0 - quantized64(vc.0, threshold: threshold, qmax: qmax, unsigned: unsigned)
        return sum + vc.1 * e * e
    }
}

@Suite("MSE calibration")
struct MSECalibratorTests {
    @Test("hand-computed: 4 bins over [0, 4], counts [10, 0, 0, 1], unsigned 2 bits: errors 9, 4, 2.11, 2.5 → T = 2.5")
    func handComputed() {
        // Centres 0.5, 1.5, 2.5, 3.5; q_max = 3, s = T/3.
        //   T = 0.5: 0.5 exact, 3.5 → 0.5          error 1·3² = 9
        //   T = 1.5: 0.5 exact, 3.5 → 1.5          error 1·2² = 4
        //   T = 2.5: 0.5 → 5/6, 3.5 → 2.5          error 10·(1/3)² + 1·1² = 2.11
        //   T = 3.5: 0.5 → 0,   3.5 exact          error 10·0.5² = 2.5
        let h = AbsHistogram(range: 4, counts: [10, 0, 0, 1])
        let c = MSECalibrator(bins: 4, startBin: 0)
        let q = UniformQuantizer(bits: 2, unsigned: true)
        #expect(c.candidates(range: 4, bins: 4) == [0.5, 1.5, 2.5, 3.5])
        #expect(c.activationThreshold(h, quantizer: q) == 2.5)
        let errors = c.candidates(range: 4, bins: 4).map {
            MSECalibrator.squaredError([0.5, 3.5], weights: [10, 1], threshold: $0, quantizer: q)
        }
        #expect(zip(errors, [9, 4, 10.0 / 9 + 1, 2.5]).allSatisfy { abs($0 - $1) < 1e-5 }, "\(errors)")
    }

    @Test("ties go to the smallest threshold: counts [7, 0, 0, 0] are exact at T = 0.5 and T = 1.5")
    func tieBreak() {
        let h = AbsHistogram(range: 4, counts: [7, 0, 0, 0])
        let q = UniformQuantizer(bits: 2, unsigned: true)
        #expect(MSECalibrator(bins: 4, startBin: 0).activationThreshold(h, quantizer: q) == 0.5)
        // From start bin 1 the first exact candidate is 1.5.
        #expect(MSECalibrator(bins: 4, startBin: 1).activationThreshold(h, quantizer: q) == 1.5)
    }

    @Test("2048-bin histogram: the threshold is the Float64 brute-force argmin over the bin centres from bin 128",
          arguments: [(4, true), (8, true), (4, false), (3, false)])
    func bruteForceHistogram(bits: Int, unsigned: Bool) {
        // A long-tailed |A|: most mass near 0, a thin tail to the range (post-ReLU-like), plus a zero spike.
        var rng = RNG(seed: UInt64(bits * 10 + (unsigned ? 1 : 0)))
        var h = AbsHistogram(range: 6, bins: 2048)
        let values = (0..<20_000).map { _ in abs(rng.normal()) * (rng.uniformDouble() < 0.01 ? 3 : 0.6) }
        h.observe(Tensor(shape: [values.count], values: values.map { min($0, 6) }))
        h.observe(Tensor(shape: [3000], values: [Float](repeating: 0, count: 3000)))
        let q = UniformQuantizer(bits: bits, unsigned: unsigned)
        let t = MSECalibrator().activationThreshold(h, quantizer: q)

        let w = 6.0 / 2048
        let centres = (0..<2048).map { (Double($0) + 0.5) * w }
        let errors = (128..<2048).map { error64(centres, counts: h.counts, threshold: centres[$0], qmax: q.qmax, unsigned: unsigned) }
        let best = errors.min()!
        let chosen = error64(centres, counts: h.counts, threshold: Double(t), qmax: q.qmax, unsigned: unsigned)
        // Float vs Float64 rounding of the quantizer can only reorder near-ties.
        #expect(chosen <= best * (1 + 1e-6), "T = \(t): error \(chosen), brute-force minimum \(best)")
        #expect(t > Float(128 * w) && t < 6)
        // At 3–4 bits the MSE threshold clips this tail well below the range (Max_Abs); at 8 bits the grid
        // is fine enough that clipping the tail costs more than it saves, and T stays near the range.
        if bits <= 4 { #expect(t < 0.9 * 6) }
    }

    @Test("weights: exact-value MSE within 0.5 % of a 20,000-point Float64 grid minimum, and below Max_Abs's error",
          arguments: [4, 8])
    func weightsFineGrid(bits: Int) {
        var rng = RNG(seed: UInt64(bits))
        var values = (0..<4000).map { _ in rng.normal() * 0.05 }
        values[17] = 0.6   // one outlier: Max_Abs wastes the grid on it
        let w = Tensor(shape: [40, 100], values: values)
        let q = UniformQuantizer(bits: bits)
        let t = MSECalibrator().weightThreshold(w, quantizer: q)
        let x = values.map(Double.init), ones = [Double](repeating: 1, count: values.count)
        func e(_ t: Double) -> Double { error64(x, counts: ones, threshold: t, qmax: q.qmax, unsigned: false) }
        let grid = (1...20_000).map { 0.6 * Double($0) / 20_000 }
        let fineMin = grid.map(e).min()!
        #expect(e(Double(t)) <= fineMin * 1.005, "T = \(t): \(e(Double(t))) vs fine-grid minimum \(fineMin)")
        #expect(e(Double(t)) < e(0.6))
        #expect(MSECalibrator.squaredError(values, threshold: t, quantizer: q)
                <= MSECalibrator.squaredError(values, threshold: 0.6, quantizer: q))
    }

    @Test("all-zero tensor and empty histogram give T = 0 (the §1.1 all-zero guard)")
    func degenerate() {
        let c = MSECalibrator()
        #expect(c.weightThreshold(Tensor(shape: [3, 3], values: [Float](repeating: 0, count: 9)), quantizer: UniformQuantizer(bits: 8)) == 0)
        #expect(c.activationThreshold(AbsHistogram(range: 0, bins: 2048), quantizer: UniformQuantizer(bits: 8)) == 0)
    }
}
