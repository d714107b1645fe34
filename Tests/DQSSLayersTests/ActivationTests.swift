import Testing
import DQSSTensor
import DQSSLayers
import _TestSupport

@Suite("ReLU6")
struct ReLU6Tests {
    @Test("forward clips to [0, 6]")
    func forward() {
        let y = ReLU6().forward(Tensor(shape: [1, 5], values: [-2, 0.5, 3, 6.5, 10]))
        #expect(y.array == [0, 0.5, 3, 6, 6])
    }

    @Test("gradient matches central differences away from the kinks")
    func gradients() {
        // Values in bands around (not at) 0 and 6, so ε = 1e-2 never crosses a kink.
        var rng = RNG(seed: 21)
        let x = Tensor(shape: [2, 3, 2, 5])
        let centres: [Float] = [-1, 1, 3, 5, 7]
        for i in 0..<x.count { x[i] = centres[i % 5] + rng.uniform(-0.5, 0.5) }
        let r = checkGradients(ReLU6(), input: x)
        #expect(r.maxError < 1e-2, "\(r)")
    }
}
