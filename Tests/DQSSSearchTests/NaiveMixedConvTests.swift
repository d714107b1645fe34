import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch
import _TestSupport

@Suite("NaiveMixedConv")
struct NaiveMixedConvTests {
    @Test("efficient (Eq. 10) = naive (Eq. 7) for random θ: output and gradients w.r.t. α, β, A, W")
    func efficientEqualsNaive() {
        for seed in [UInt64(11), 12, 13] {
            let f = MixedConvFixture(seed: seed)
            var rng = RNG(seed: seed &+ 100)
            let alpha = (0..<4).map { _ in rng.uniform(-2, 2) }, beta = (0..<4).map { _ in rng.uniform(-2, 2) }
            f.setLogits(alpha: alpha, beta: beta)
            // Weights trainable (QAT-style) so that ∂L/∂W is compared too.
            let naive = NaiveMixedConv(conv: f.conv, activationBranches: f.activationBranches,
                                       weightBranches: f.weightBranches)
            naive.alpha.value.set(alpha)
            naive.beta.value.set(beta)
            let gy = Tensor.uniform(f.geometry.outputShape, -1, 1, rng: &rng)

            f.conv.zeroGradients(); f.activation.logits.grad.zero(); f.weight.logits.grad.zero()
            let yE = doubles(f.conv.forward(f.input))
            let dxE = doubles(f.conv.backward(gy))
            let dwE = doubles(f.conv.weight.grad), dbE = doubles(f.conv.bias!.grad)
            let daE = doubles(f.activation.logits.grad), dbeE = doubles(f.weight.logits.grad)

            f.conv.zeroGradients(); naive.alpha.grad.zero(); naive.beta.grad.zero()
            let yN = doubles(naive.forward(f.input))
            let dxN = doubles(naive.backward(gy))
            let dwN = doubles(f.conv.weight.grad), dbN = doubles(f.conv.bias!.grad)
            let daN = doubles(naive.alpha.grad), dbeN = doubles(naive.beta.grad)

            #expect(relativeError(yN, yE) < 1e-5, "forward, seed \(seed)")
            #expect(relativeError(dxN, dxE) < 1e-5, "∂L/∂A, seed \(seed)")
            #expect(relativeError(dwN, dwE) < 1e-5, "∂L/∂W, seed \(seed)")
            #expect(relativeError(dbN, dbE) < 1e-6, "∂L/∂bias, seed \(seed)")
            #expect(relativeError(daN, daE) < 1e-4, "∂L/∂α, seed \(seed): \(daN) vs \(daE)")
            #expect(relativeError(dbeN, dbeE) < 1e-4, "∂L/∂β, seed \(seed): \(dbeN) vs \(dbeE)")
            #expect(daE.map(abs).max()! > 1e-3)   // the comparison is not vacuous
        }
    }

    @Test("the naive layer's own gradients pass a finite-difference check (α, β, W, bias, input)")
    func naiveGradientCheck() {
        // 16-bit candidates with distinct clipping thresholds: the quantizers are nearly the identity
        // inside their range, so the clipped-STE gradient is close to the true derivative.
        let f = MixedConvFixture(bits: 16)
        f.conv.inputHook = nil
        f.conv.weightHook = nil
        let naive = NaiveMixedConv(conv: f.conv, activationBranches: f.activationBranches,
                                   weightBranches: f.weightBranches)
        naive.alpha.value.set([0.3, -0.2, 1.1, 0.05])
        naive.beta.value.set([-0.4, 0.9, 0.2, 0.0])
        let r = checkGradients(naive, input: f.input, epsilon: 1e-3)
        print("naive gradient check: \(r)")
        #expect(r.maxError < 3e-2, "\(r)")
    }
}
