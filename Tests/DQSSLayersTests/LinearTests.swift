import Testing
import DQSSTensor
import DQSSLayers
import _TestSupport

@Suite("Linear")
struct LinearTests {
    @Test("forward equals a hand-computed x Wᵀ + b")
    func forwardHandComputed() {
        var rng = RNG(seed: 1)
        let l = Linear(3, 2, rng: &rng)
        l.weight.value.set([1, 2, 3, -1, 0, 1])
        l.bias!.value.set([0.5, -0.5])
        let y = l.forward(Tensor(shape: [1, 3], values: [1, 1, 2]))
        let expected: [Float] = [9.5, 0.5]  // [1+2+6+0.5, -1+0+2-0.5]
        #expect(y.array == expected)
    }

    @Test("gradients of input, weight and bias match central differences")
    func gradientCheck() {
        var rng = RNG(seed: 2)
        let l = Linear(7, 5, rng: &rng)
        let x = Tensor.uniform([4, 7], rng: &rng)
        let r = checkGradients(l, input: x)
        #expect(r.maxError < 1e-2, "\(r)")
    }
}
