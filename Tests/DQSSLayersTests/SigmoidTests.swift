import Testing
import Foundation
import DQSSTensor
import DQSSLayers
import _TestSupport

@Suite("Sigmoid")
struct SigmoidTests {
    @Test("forward: σ(0) = 1/2, σ(ln 3) = 3/4, σ(−ln 3) = 1/4")
    func forward() {
        let l3 = Float(log(3.0))
        let y = Sigmoid().forward(Tensor(shape: [3], values: [0, l3, -l3]))
        #expect(maxAbsDiff(y.array, [0.5, 0.75, 0.25]) < 1e-6)
    }

    @Test("gradient matches central differences")
    func gradients() {
        var rng = RNG(seed: 31)
        let x = Tensor.uniform([2, 3, 2, 2], -3, 3, rng: &rng)
        let r = checkGradients(Sigmoid(), input: x, epsilon: 1e-2)
        #expect(r.maxError < 1e-2, "\(r)")
    }
}
