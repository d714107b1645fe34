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

/// Doubles its input: y = 2x, dL/dx = 2 dL/dy.
private final class DoubleHook: TensorHook {
    let out = Tensor(shape: [0]), grad = Tensor(shape: [0])
    func forward(_ x: Tensor) -> Tensor {
        out.resize(to: x.shape); for i in 0..<x.count { out[i] = 2 * x[i] }; return out
    }
    func backward(_ g: Tensor) -> Tensor {
        grad.resize(to: g.shape); for i in 0..<g.count { grad[i] = 2 * g[i] }; return grad
    }
}

@Suite("Linear hooks")
struct LinearHookTests {
    @Test("input and weight hooks change the forward and are differentiated through")
    func hooksGradientCheck() {
        var rng = RNG(seed: 3)
        let l = Linear(6, 4, rng: &rng)
        let plain = l.forward(Tensor(shape: [2, 6], repeating: 1)).copy()
        l.inputHook = DoubleHook()
        l.weightHook = DoubleHook()
        let hooked = l.forward(Tensor(shape: [2, 6], repeating: 1))
        let b = l.bias!.value
        for i in 0..<2 { for o in 0..<4 {
            // (2x)(2W) = 4 (xW): the bias is not hooked.
            #expect(abs((hooked[i * 4 + o] - b[o]) - 4 * (plain[i * 4 + o] - b[o])) < 1e-4)
        } }
        let r = checkGradients(l, input: Tensor.uniform([3, 6], rng: &rng))
        #expect(r.maxError < 1e-2, "\(r)")
    }
}
