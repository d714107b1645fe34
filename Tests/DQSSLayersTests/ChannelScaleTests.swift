import Testing
import DQSSTensor
import DQSSLayers
import _TestSupport

/// y = ChannelScale(x, s) with s a parameter, so that both gradients are checked.
final class ChannelScaleProbe: UnaryLayer {
    var isTraining = false
    let op = ChannelScale()
    let s: Parameter
    init(_ s: Tensor) { self.s = Parameter(s) }
    var parameters: [(name: String, parameter: Parameter)] { [("s", s)] }
    func forward(_ x: Tensor) -> Tensor { op.forward(x, s.value) }
    func backward(_ g: Tensor) -> Tensor {
        let (gx, gs) = op.backward(g)
        s.grad.add(gs)
        return gx
    }
}

@Suite("ChannelScale")
struct ChannelScaleTests {
    @Test("forward multiplies each plane by its own weight")
    func forward() {
        let x = Tensor(shape: [1, 2, 1, 2], values: [1, 2, 3, 4])
        let y = ChannelScale().forward(x, Tensor(shape: [1, 2, 1, 1], values: [10, -1]))
        #expect(y.array == [10, 20, -3, -4])
    }

    @Test("input and weight gradients match central differences")
    func gradients() {
        var rng = RNG(seed: 33)
        let x = Tensor.uniform([2, 3, 2, 3], -1, 1, rng: &rng)
        let probe = ChannelScaleProbe(Tensor.uniform([2, 3, 1, 1], -1, 1, rng: &rng))
        let r = checkGradients(probe, input: x)
        #expect(r.maxError < 1e-2, "\(r)")
    }
}
