import Testing
import DQSSTensor
import DQSSQuant

/// ALGORITHMS.md §11.4 oracles for the ALS scale search.
@Suite("ADMM calibration")
struct ADMMScaleTests {
    let x: [Float] = [0.05, -0.3, 0.8, 1.2, -2.0, 0.4]

    @Test("§11.4: ternary (q_max = 1, c = 2.5) reaches the fixed point α = 1 after one update")
    func ternary() {
        let r = ADMMScale.solve([0.1, 0.9, 1.0, -1.1], quantizer: UniformQuantizer(bits: 2),
                                initDivisor: 2.5, iterations: 300)
        #expect(abs(r.alpha - 1.0) < 1e-9)
        #expect(r.iterations == 1)
    }

    @Test("§11.4: 4-bit weight (q_max = 7, c = 1.25): α = 21.9/76, T = 2.01711")
    func weight4() {
        let q = UniformQuantizer(bits: 4)
        let r = ADMMScale.solve(x, quantizer: q, initDivisor: 1.25, iterations: 1000)
        #expect(abs(r.alpha - 21.9 / 76) < 1e-7 * 21.9 / 76, "\(r.alpha)")
        #expect(abs(r.threshold - 2.01711) < 1e-5)
        // The α sequence 0.228571, 0.255789, 0.267045, 0.288158: three updates change the codes.
        for (k, expected) in [0.255789, 0.267045, 0.288158].enumerated() {
            let partial = ADMMScale.solve(x, quantizer: q, initDivisor: 1.25, iterations: k + 1)
            #expect(abs(partial.alpha - expected) < 1e-6, "step \(k + 1): \(partial.alpha)")
        }
        #expect(abs(2.0 / (7 * 1.25) - 0.228571) < 1e-6)
        let t = Tensor(shape: [6], values: x)
        #expect(q.codes(t, threshold: Float(r.threshold)) == [0, -1, 3, 4, -7, 1])
    }

    @Test("§11.4: 8-bit activation (c = 2.5): α = 401.85/25501, T = 2.001292 > max|x|")
    func activation8() {
        let q = UniformQuantizer(bits: 8)
        let r = ADMMScale.solve(x, quantizer: q, initDivisor: 2.5, iterations: 300)
        #expect(r.iterations < 300)
        #expect(abs(r.alpha - 401.85 / 25501) < 1e-7 * 401.85 / 25501, "\(r.alpha)")
        #expect(abs(r.threshold - 2.001292) < 1e-6)
        #expect(r.threshold > 2.0)
        let t = Tensor(shape: [6], values: x)
        #expect(q.codes(t, threshold: Float(r.threshold)) == [3, -19, 51, 76, -127, 25])
    }

    @Test("property: ‖x − αq‖² is non-increasing over iterations", arguments: [2, 4, 8], [false, true])
    func nonIncreasing(bits: Int, unsigned: Bool) {
        var rng = RNG(seed: UInt64(bits))
        let t = Tensor.normal([3000], rng: &rng)
        var v = t.array
        if unsigned { v = v.map { max($0, 0) } }
        for c in [2.5, 1.25, 0.5] {
            let r = ADMMScale.solve(v, quantizer: UniformQuantizer(bits: bits, unsigned: unsigned),
                                    initDivisor: c, iterations: 300, recordErrors: true)
            for k in 1..<max(r.errors.count, 1) {
                #expect(r.errors[k] <= r.errors[k - 1] * (1 + 1e-12), "c=\(c) step \(k)")
            }
        }
    }

    @Test("ALS on sorted runs equals the elementwise definition on random data")
    func matchesElementwise() {
        var rng = RNG(seed: 21)
        let v = Tensor.normal([777], rng: &rng).array
        let q = UniformQuantizer(bits: 4)
        // Elementwise reference of §3.4.
        var alpha = Double(v.map(abs).max()!) / (7 * 2.5)
        var previous: [Double] = []
        for _ in 0..<300 {
            let codes = v.map { min(max((Double($0) / alpha).rounded(.toNearestOrEven), -7), 7) }
            if codes == previous { break }
            previous = codes
            var qx = 0.0, qq = 0.0
            for (c, e) in zip(codes, v) { qx += c * Double(e); qq += c * c }
            alpha = qx / (qq + 1e-9)
        }
        let r = ADMMScale.solve(v, quantizer: q, initDivisor: 2.5, iterations: 300)
        #expect(abs(r.alpha - alpha) <= 1e-12 * alpha)
    }

    @Test("thresholds are invariant to the order of calibration batches; all-zero gives 0")
    func orderInvariance() {
        var rng = RNG(seed: 22)
        let batches = (0..<4).map { _ in Tensor.normal([2, 100], rng: &rng) }
        var a = ActivationSample(), b = ActivationSample()
        for t in batches { a.observe(t) }
        for t in batches.reversed() { var part = ActivationSample(); part.observe(t); b.merge(part) }
        let cal = ADMMCalibrator()
        let q = UniformQuantizer(bits: 8)
        #expect(cal.activationThreshold(a, quantizer: q) == cal.activationThreshold(b, quantizer: q))
        #expect(cal.activationThreshold(ActivationSample(values: [0, 0, 0]), quantizer: q) == 0)
    }

    @Test("above the limit, a fixed-seed subsample of exactly `limit` sorted values is used")
    func subsample() {
        let s = ActivationSample(values: (0..<1000).map { Float(999 - $0) })
        let v = s.canonicalValues(limit: 100)
        #expect(v.count == 100)
        #expect(v == v.sorted())
        #expect(v == s.canonicalValues(limit: 100))
    }
}
