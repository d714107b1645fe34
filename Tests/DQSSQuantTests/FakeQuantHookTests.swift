import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant

@Suite("FakeQuantHook")
struct FakeQuantHookTests {
    @Test("a hooked Linear computes Q(x; T_a) Q(W; T_w)ᵀ + b and its input gradient is STE-masked")
    func hookedLinear() {
        var rng = RNG(seed: 41)
        let layer = Linear(5, 3, rng: &rng)
        let x = Tensor(shape: [2, 5], values: [0.3, -1.7, 0.9, 2.5, -0.1, 1.1, 0.0, -0.6, 0.25, 3.0])
        let aq = UniformQuantizer(bits: 4), wq = UniformQuantizer(bits: 4)
        let ta: Float = 2.0, tw = layer.weight.value.maxAbs()
        // Reference: an unhooked Linear fed pre-quantized tensors.
        let xq = aq.fakeQuantized(x, threshold: ta)
        let saved = layer.weight.value.copy()
        wq.fakeQuantize(layer.weight.value, threshold: tw, into: layer.weight.value)
        let expected = layer.forward(xq).copy()
        layer.weight.value.assign(saved)

        layer.inputHook = FakeQuantHook(quantizer: aq, threshold: ta)
        layer.weightHook = FakeQuantHook(quantizer: wq, threshold: tw)
        let y = layer.forward(x)
        #expect(y.array == expected.array)

        let dx = layer.backward(Tensor(shape: [2, 3], repeating: 1))
        // |x| > T_a = 2 at indices 3 (2.5) and 9 (3.0): no gradient there.
        #expect(dx[3] == 0 && dx[9] == 0)
        #expect(dx[0] != 0 && dx[1] != 0)
    }
}
