import Testing
import DQSSTensor
import DQSSLayers
import _TestSupport

@Suite("Conv2d")
struct Conv2dTests {
    @Test("shapes, PyTorch names and init bound ±1/sqrt(fan_in)")
    func shapesAndInit() {
        var rng = RNG(seed: 1)
        let c = Conv2d(8, 16, kernelSize: 3, stride: 2, padding: 1, groups: 2, rng: &rng)
        #expect(c.weight.value.shape == [16, 4, 3, 3])
        #expect(c.parameters.map(\.name) == ["weight", "bias"])
        let bound = 1 / Float(4 * 9).squareRoot()
        #expect(c.weight.value.maxAbs() <= bound && c.weight.value.maxAbs() > 0.8 * bound)
        #expect(c.bias!.value.maxAbs() <= bound)
        let y = c.forward(Tensor(shape: [3, 8, 9, 7]))
        #expect(y.shape == [3, 16, 5, 4])
        #expect(Conv2d(3, 4, kernelSize: 1, bias: false, rng: &rng).parameters.map(\.name) == ["weight"])
    }

    @Test("forward matches the naive convolution")
    func forwardMatchesNaive() {
        var rng = RNG(seed: 2)
        let c = Conv2d(4, 6, kernelSize: 3, stride: 1, padding: 1, rng: &rng)
        let x = Tensor.uniform([2, 4, 5, 6], rng: &rng)
        let y = c.forward(x)
        let g = c.geometry(for: x.shape)
        let ref = Tensor(shape: g.outputShape)
        Conv2dNaive.forward(g, input: x.data, weight: c.weight.value.data, bias: c.bias!.value.data, output: ref.data)
        #expect(maxAbsDiff(y.array, ref.array) < 1e-5)
    }

    @Test("gradients of input, weight and bias match central differences",
          arguments: [(1, 1, 1), (2, 1, 1), (1, 0, 2), (1, 1, 4)])
    func gradientCheck(_ args: (Int, Int, Int)) {
        let (stride, padding, groups) = args
        var rng = RNG(seed: 3)
        let c = Conv2d(4, 4, kernelSize: 3, stride: stride, padding: padding, groups: groups, rng: &rng)
        let x = Tensor.uniform([2, 4, 6, 5], rng: &rng)
        let r = checkGradients(c, input: x)
        #expect(r.maxError < 1e-2, "\(r)")
    }

    @Test("backward accumulates into weight.grad; requiresGrad false and needsInputGradient false skip")
    func accumulationAndSkips() {
        var rng = RNG(seed: 4)
        let c = Conv2d(3, 5, kernelSize: 3, padding: 1, rng: &rng)
        let x = Tensor.uniform([2, 3, 4, 4], rng: &rng)
        let dy = Tensor.uniform([2, 5, 4, 4], rng: &rng)
        _ = c.forward(x)
        let dx = c.backward(dy).copy()
        let once = c.weight.grad.copy(), onceB = c.bias!.grad.copy()
        _ = c.forward(x)
        _ = c.backward(dy)
        #expect(maxAbsDiff(c.weight.grad.array, once.array.map { 2 * $0 }) < 1e-5)
        #expect(maxAbsDiff(c.bias!.grad.array, onceB.array.map { 2 * $0 }) < 1e-5)
        c.weight.requiresGrad = false
        c.needsInputGradient = false
        _ = c.forward(x)
        let skipped = c.backward(dy)
        #expect(maxAbsDiff(c.weight.grad.array, once.array.map { 2 * $0 }) < 1e-5)
        #expect(skipped.shape == x.shape && skipped.maxAbs() == 0)
        #expect(dx.maxAbs() > 0)
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

@Suite("Conv2d hooks")
struct Conv2dHookTests {
    @Test("input and weight hooks change the forward and are differentiated through")
    func hooks() {
        var rng = RNG(seed: 5)
        let c = Conv2d(3, 4, kernelSize: 3, padding: 1, rng: &rng)
        let x = Tensor.uniform([2, 3, 5, 5], rng: &rng)
        let plain = c.forward(x).copy()
        c.inputHook = DoubleHook()
        c.weightHook = DoubleHook()
        let hooked = c.forward(x)
        let b = c.bias!.value
        for n in 0..<2 { for o in 0..<4 { for s in 0..<25 {
            let i = (n * 4 + o) * 25 + s
            // (2x) ⋆ (2W) = 4 (x ⋆ W): the bias is not hooked.
            #expect(abs((hooked[i] - b[o]) - 4 * (plain[i] - b[o])) < 1e-4)
        } } }
        let r = checkGradients(c, input: x)
        #expect(r.maxError < 1e-2, "\(r)")
    }
}
