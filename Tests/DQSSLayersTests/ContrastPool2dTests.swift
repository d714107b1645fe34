import Testing
import DQSSTensor
import DQSSLayers
import _TestSupport

@Suite("ContrastPool2d")
struct ContrastPool2dTests {
    @Test("forward is mean + population std per plane (hand-computed)")
    func forward() {
        // Plane 1: [1, 2, 3, 4]: μ = 2.5, σ² = (2.25 + 0.25 + 0.25 + 2.25)/4 = 1.25 -> 2.5 + 1.1180340.
        // Plane 2: constant 7: μ = 7, σ = 0.
        let x = Tensor(shape: [1, 2, 2, 2], values: [1, 2, 3, 4, 7, 7, 7, 7])
        let y = ContrastPool2d().forward(x)
        #expect(y.shape == [1, 2, 1, 1])
        #expect(maxAbsDiff(y.array, [2.5 + 1.1180340, 7]) < 1e-6)
    }

    @Test("gradient matches central differences")
    func gradients() {
        var rng = RNG(seed: 32)
        let x = Tensor.uniform([2, 3, 3, 4], -2, 2, rng: &rng)
        let r = checkGradients(ContrastPool2d(), input: x, epsilon: 1e-2)
        #expect(r.maxError < 1e-2, "\(r)")
    }

    @Test("a constant plane gets the mean's gradient only (no NaN from σ = 0)")
    func constantPlane() {
        let pool = ContrastPool2d()
        _ = pool.forward(Tensor(shape: [1, 1, 2, 2], repeating: 3))
        let g = pool.backward(Tensor(shape: [1, 1, 1, 1], values: [4]))
        #expect(g.array == [1, 1, 1, 1])
    }
}
