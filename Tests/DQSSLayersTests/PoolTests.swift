import Testing
import DQSSTensor
import DQSSLayers
import _TestSupport

/// Distinct values (a shuffled ramp) so that max-pool windows have no ties and ε stays below the gaps.
private func distinct(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = RNG(seed: seed)
    let t = Tensor(shape: shape)
    let perm = rng.permutation(t.count)
    for i in 0..<t.count { t[i] = Float(perm[i]) * 0.1 - Float(t.count) * 0.05 }
    return t
}

@Suite("MaxPool2d")
struct MaxPool2dTests {
    @Test("forward of a hand-computed 4x4 case, with and without padding")
    func forward() {
        let x = Tensor(shape: [1, 1, 4, 4], values: [1, 2, 3, 4,
                                                     5, 6, 7, 8,
                                                     9, 1, 2, 3,
                                                     4, 5, 6, -7])
        #expect(MaxPool2d(kernelSize: 2).forward(x).array == [6, 8, 9, 6])
        // k3 s2 p1: output 2x2 windows rows/cols {-1..1}, {1..3}.
        #expect(MaxPool2d(kernelSize: 3, stride: 2, padding: 1).forward(x).array == [6, 8, 9, 8])
        // -inf padding: an all-negative input never yields 0.
        let neg = Tensor(shape: [1, 1, 2, 2], repeating: -3)
        #expect(MaxPool2d(kernelSize: 3, stride: 1, padding: 1).forward(neg).array == [-3, -3, -3, -3])
    }

    @Test("ties send the gradient to the first maximum only")
    func ties() {
        let pool = MaxPool2d(kernelSize: 2)
        _ = pool.forward(Tensor(shape: [1, 1, 2, 2], repeating: 1))
        let g = pool.backward(Tensor(shape: [1, 1, 1, 1], values: [5]))
        #expect(g.array == [5, 0, 0, 0])
    }

    @Test("gradients match central differences (stride, padding, overlap, non-square)")
    func gradients() {
        for (k, s, p) in [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0)] {
            let x = distinct([2, 3, 5, 7], seed: UInt64(k * 10 + s + p))
            let r = checkGradients(MaxPool2d(kernelSize: k, stride: s, padding: p), input: x, epsilon: 1e-3)
            #expect(r.maxError < 1e-2, "k\(k) s\(s) p\(p): \(r)")
        }
    }
}

@Suite("AvgPool2d")
struct AvgPool2dTests {
    @Test("forward divides by k² including padded zeros")
    func forward() {
        let x = Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 4])
        #expect(AvgPool2d(kernelSize: 2).forward(x).array == [2.5])
        // k2 s2 p1 -> 2x2 outputs, each window holds one real value and three padded zeros.
        #expect(AvgPool2d(kernelSize: 2, stride: 2, padding: 1).forward(x).array == [0.25, 0.5, 0.75, 1])
    }

    @Test("gradients match central differences (stride, padding, non-square)")
    func gradients() {
        var rng = RNG(seed: 31)
        for (k, s, p) in [(2, 2, 0), (3, 2, 1), (3, 1, 1)] {
            let x = Tensor.uniform([2, 2, 5, 6], rng: &rng)
            let r = checkGradients(AvgPool2d(kernelSize: k, stride: s, padding: p), input: x)
            #expect(r.maxError < 1e-2, "k\(k) s\(s) p\(p): \(r)")
        }
    }
}

@Suite("GlobalAvgPool2d")
struct GlobalAvgPool2dTests {
    @Test("forward gives the plane means as [N, C, 1, 1]")
    func forward() {
        let y = GlobalAvgPool2d().forward(Tensor(shape: [1, 2, 1, 3], values: [1, 2, 3, -3, 0, 6]))
        #expect(y.shape == [1, 2, 1, 1] && y.array == [2, 1])
    }

    @Test("gradient matches central differences")
    func gradients() {
        var rng = RNG(seed: 32)
        let r = checkGradients(GlobalAvgPool2d(), input: Tensor.uniform([3, 4, 3, 5], rng: &rng))
        #expect(r.maxError < 1e-2, "\(r)")
    }
}
