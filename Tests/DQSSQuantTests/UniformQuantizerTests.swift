import Testing
import DQSSTensor
import DQSSQuant

/// ALGORITHMS.md §11.1 oracles and properties of the §1 quantizer.
@Suite("UniformQuantizer")
struct UniformQuantizerTests {
    let x: [Float] = [-1.3, -0.2, 0.0, 0.061, 0.7, 2.54]

    @Test("ranges: q_max = 2^(b-1+u) - 1, narrow signed q_min")
    func ranges() {
        #expect(UniformQuantizer(bits: 8).qmax == 127)
        #expect(UniformQuantizer(bits: 8).qmin == -127)
        #expect(UniformQuantizer(bits: 8, unsigned: true).qmax == 255)
        #expect(UniformQuantizer(bits: 8, unsigned: true).qmin == 0)
        #expect(UniformQuantizer(bits: 4).qmax == 7)
        #expect(UniformQuantizer(bits: 4, unsigned: true).qmax == 15)
        #expect(UniformQuantizer(bits: 2).qmax == 1)
    }

    @Test("§11.1: 8-bit signed, T = max|x| = 2.54, s = 0.02")
    func maxAbsThreshold() {
        let q = UniformQuantizer(bits: 8)
        let t = Tensor(shape: [6], values: x)
        #expect(abs(q.scale(threshold: 2.54) - 0.02) < 1e-8)
        #expect(q.codes(t, threshold: 2.54) == [-65, -10, 0, 3, 35, 127])
        let y = q.fakeQuantized(t, threshold: 2.54).array
        let expected: [Float] = [-1.3, -0.2, 0, 0.06, 0.7, 2.54]
        for (a, b) in zip(y, expected) { #expect(abs(a - b) < 1e-6, "\(y)") }
    }

    @Test("§11.1: 8-bit signed, T = 1 clips and masks the gradient outside [-T, T]")
    func clippedThreshold() {
        let q = UniformQuantizer(bits: 8)
        let t = Tensor(shape: [6], values: x)
        #expect(q.codes(t, threshold: 1) == [-127, -25, 0, 8, 89, 127])
        let y = q.fakeQuantized(t, threshold: 1).array
        let expected: [Double] = [-1.0, -0.19685, 0, 0.06299, 0.70079, 1.0]
        for (a, b) in zip(y, expected) { #expect(abs(Double(a) - b) < 1e-5, "\(y)") }
        #expect(q.steMask(t, threshold: 1) == [0, 1, 1, 1, 1, 0])
    }

    @Test("§11.1: 4-bit unsigned, T = 1.5, s = 0.1")
    func unsigned4() {
        let q = UniformQuantizer(bits: 4, unsigned: true)
        let t = Tensor(shape: [6], values: [0, 0.04, 0.26, 0.94, 1.49, 3.0])
        #expect(q.codes(t, threshold: 1.5) == [0, 0, 3, 9, 15, 15])
        let y = q.fakeQuantized(t, threshold: 1.5).array
        let expected: [Float] = [0, 0, 0.3, 0.9, 1.5, 1.5]
        for (a, b) in zip(y, expected) { #expect(abs(a - b) < 1e-6, "\(y)") }
        // Unsigned mask: 0 ≤ x ≤ T.
        #expect(q.steMask(Tensor(shape: [4], values: [-0.1, 0, 1.5, 1.6]), threshold: 1.5) == [0, 1, 1, 0])
    }

    @Test("§11.1: T = 0 (and T ≤ 2^-24) gives all zeros, no NaN", arguments: [Float(0), 0x1p-24, 0x1p-30])
    func zeroThreshold(_ threshold: Float) {
        let q = UniformQuantizer(bits: 8)
        let y = q.fakeQuantized(Tensor(shape: [6], values: x), threshold: threshold).array
        #expect(y == [0, 0, 0, 0, 0, 0])
        #expect(q.scale(threshold: threshold) == 1)
    }

    @Test("§11.1: ties round half to even")
    func ties() {
        let q = UniformQuantizer(bits: 8)
        let t = Tensor(shape: [4], values: [0.5, 1.5, 2.5, -0.5])
        #expect(q.codes(t, threshold: 127) == [0, 2, 2, 0])
        let y = q.fakeQuantized(t, threshold: 127).array
        #expect(y == [0, 2, 2, 0])
        #expect(y[3].sign == .minus)  // −0
    }

    @Test("quantize∘dequantize is idempotent (bitwise)", arguments: [2, 4, 8], [false, true])
    func idempotent(bits: Int, unsigned: Bool) {
        var rng = RNG(seed: UInt64(bits * 2 + (unsigned ? 1 : 0)))
        let q = UniformQuantizer(bits: bits, unsigned: unsigned)
        let t = Tensor.uniform([1000], unsigned ? 0 : -3, 3, rng: &rng)
        for threshold: Float in [0.37, 1, 2.5, 7] {
            let once = q.fakeQuantized(t, threshold: threshold)
            let twice = q.fakeQuantized(once, threshold: threshold)
            #expect(once.array == twice.array, "T=\(threshold)")
            #expect(q.codes(once, threshold: threshold) == q.codes(t, threshold: threshold))
        }
    }

    @Test("inside the threshold the error is at most s/2; outside values clip to the range ends",
          arguments: [2, 4, 8], [false, true])
    func errorBound(bits: Int, unsigned: Bool) {
        var rng = RNG(seed: 100 + UInt64(bits))
        let q = UniformQuantizer(bits: bits, unsigned: unsigned)
        let t = Tensor.uniform([2000], -4, 4, rng: &rng)
        let threshold: Float = 2.3
        let s = q.scale(threshold: threshold)
        let y = q.fakeQuantized(t, threshold: threshold)
        let lo: Float = unsigned ? 0 : -threshold
        for i in 0..<t.count {
            let v = t[i]
            if v >= lo && v <= threshold {
                #expect(abs(v - y[i]) <= s / 2 * (1 + 1e-5), "x=\(v) x̂=\(y[i]) s=\(s)")
            } else {
                let end = v > threshold ? s * Float(q.qmax) : s * Float(q.qmin)
                #expect(y[i] == end)
            }
        }
    }

    @Test("all-zero tensors stay zero at any threshold", arguments: [2, 4, 8], [false, true])
    func allZero(bits: Int, unsigned: Bool) {
        let q = UniformQuantizer(bits: bits, unsigned: unsigned)
        let t = Tensor(shape: [17])
        for threshold: Float in [0, 1e-3, 1, 100] {
            #expect(q.fakeQuantized(t, threshold: threshold).array.allSatisfy { $0 == 0 })
        }
    }

    @Test("a single outlier at T = max|x| is represented exactly at q_max·s, the rest on the grid",
          arguments: [2, 4, 8], [false, true])
    func singleOutlier(bits: Int, unsigned: Bool) {
        let q = UniformQuantizer(bits: bits, unsigned: unsigned)
        var values = [Float](repeating: 0.01, count: 31)
        values.append(1000)
        let t = Tensor(shape: [32], values: values)
        let y = q.fakeQuantized(t, threshold: 1000)
        #expect(abs(y[31] - 1000) <= 1000 * 1e-6)
        // 0.01 is far below s/2: everything else collapses to 0.
        #expect((0..<31).allSatisfy { y[$0] == 0 })
    }

    @Test("STE backward passes the upstream gradient only inside the clipping range")
    func steBackward() {
        let q = UniformQuantizer(bits: 8)
        let xs = Tensor(shape: [5], values: [-2, -1, 0.3, 1, 2])
        let g = Tensor(shape: [5], values: [1, 2, 3, 4, 5])
        let dx = Tensor(shape: [5])
        q.steBackward(input: xs.data, gradOutput: g.data, into: dx.data, count: 5, threshold: 1)
        #expect(dx.array == [0, 2, 3, 4, 0])
    }
}
