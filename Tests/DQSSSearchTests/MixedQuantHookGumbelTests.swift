import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch
import _TestSupport

@Suite("MixedQuantHook, straight-through Gumbel sampling")
struct MixedQuantHookGumbelTests {
    // Logits, τ and noise chosen so that both samples differ from the argmax of the logits:
    // α/τ + g_α = [0.6, 2.6, 2.2, 0.1] -> 1 (argmax α: 2); β/τ + g_β = [2.0, 1.8, 0.4, 0.0] -> 0 (argmax β: 1).
    static let alpha: [Double] = [0.3, -0.2, 1.1, 0.05], beta: [Double] = [-0.4, 0.9, 0.2, 0.0]
    static let tau = 0.5
    static let noiseAlpha: [Double] = [0, 3, 0, 0], noiseBeta: [Double] = [2.8, 0, 0, 0]

    /// The mixed conv layer at these logits and τ (no noise yet), and an output gradient drawn with `seed`.
    static func fixture(gradientSeed seed: UInt64) -> (MixedConvFixture, Tensor) {
        let f = MixedConvFixture()
        f.setLogits(alpha: alpha.map(Float.init), beta: beta.map(Float.init))
        for h in [f.activation, f.weight] { h.temperature = tau }
        var rng = RNG(seed: seed)
        return (f, Tensor.uniform(f.geometry.outputShape, -1, 1, rng: &rng))
    }

    @Test("the forward is the one sampled branch argmax(l/τ + g) bit for bit, ∂L/∂x its STE gradient; winner-take-all ignores the noise and nil noise restores the soft mixture")
    func forwardIsTheSample() {
        let (f, gy) = Self.fixture(gradientSeed: 4)
        let soft = f.conv.forward(f.input).copy()
        f.activation.gumbelNoise = Self.noiseAlpha
        f.weight.gumbelNoise = Self.noiseBeta
        let y = f.conv.forward(f.input).copy()
        let dx = f.conv.backward(gy).copy()
        var ref = RNG(seed: 11)
        let single = Conv2d(3, 4, kernelSize: 3, padding: 1, bias: true, rng: &ref)
        single.weight.value.assign(f.conv.weight.value)
        single.bias!.value.assign(f.conv.bias!.value)
        func use(_ i: Int, _ j: Int) {
            let ab = f.activationBranches[i], wb = f.weightBranches[j]
            single.inputHook = FakeQuantHook(quantizer: ab.quantizer, threshold: ab.threshold)
            single.weightHook = FakeQuantHook(quantizer: wb.quantizer, threshold: wb.threshold)
        }
        use(1, 0)
        #expect(y.array.map(\.bitPattern) == single.forward(f.input).array.map(\.bitPattern))
        #expect(dx.array == single.backward(gy).array)
        // Winner-take-all: the argmax of the logits (2, 1), whatever the noise.
        f.activation.mode = .winnerTakeAll
        f.weight.mode = .winnerTakeAll
        use(2, 1)
        #expect(f.conv.forward(f.input).array.map(\.bitPattern) == single.forward(f.input).array.map(\.bitPattern))
        // No noise: the soft mixture again.
        f.activation.mode = .soft
        f.weight.mode = .soft
        f.activation.gumbelNoise = nil
        f.weight.gumbelNoise = nil
        #expect(f.conv.forward(f.input).array.map(\.bitPattern) == soft.array.map(\.bitPattern))
    }

    @Test("∂L/∂α, ∂L/∂β are the relaxed sample's softmax Jacobian times ⟨G, W_j * A_i⟩ of EVERY branch at the one-hot network: Float64 reference (itself checked by central differences of the straight-through surrogate) and the operator")
    func gradientThroughTheRelaxedSample() {
        let (f, gy) = Self.fixture(gradientSeed: 99)
        // P_ij = ⟨G_y, W_j * A_i⟩ in Float64; the sampled network is (a*, b*) = (1, 0).
        let P = f.branchProducts(gy)
        let dThetaA = (0..<4).map { P[$0][0] }, dThetaB = (0..<4).map { P[1][$0] }
        func relaxed(_ l: [Double], _ noise: [Double]) -> [Double] {
            let z = zip(l, noise).map { $0 / Self.tau + $1 }
            let m = z.max()!, e = z.map { exp($0 - m) }, s = e.reduce(0, +)
            return e.map { $0 / s }
        }
        // The straight-through surrogate: L̃(l) = Σ_i y_i(l) ∂L/∂θ_i, its gradient by central differences.
        func surrogateGradient(_ l0: [Double], _ noise: [Double], _ dTheta: [Double]) -> [Double] {
            (0..<4).map { k in
                var p = l0, m = l0
                p[k] += 1e-6; m[k] -= 1e-6
                let lp = zip(relaxed(p, noise), dTheta).reduce(0) { $0 + $1.0 * $1.1 }
                let lm = zip(relaxed(m, noise), dTheta).reduce(0) { $0 + $1.0 * $1.1 }
                return (lp - lm) / 2e-6
            }
        }
        let refAlpha = surrogateGradient(Self.alpha, Self.noiseAlpha, dThetaA)
        let refBeta = surrogateGradient(Self.beta, Self.noiseBeta, dThetaB)
        #expect(relativeError(refAlpha, ArchitectureSoftmax.logitGradient(theta: relaxed(Self.alpha, Self.noiseAlpha),
                                                                           thetaGradient: dThetaA, temperature: Self.tau)) < 1e-6)
        // Every branch contributes (a gradient from the sampled branch alone would differ).
        #expect(dThetaA.allSatisfy { abs($0) > 1e-3 } && dThetaB.allSatisfy { abs($0) > 1e-3 })

        f.activation.gumbelNoise = Self.noiseAlpha
        f.weight.gumbelNoise = Self.noiseBeta
        _ = f.conv.forward(f.input)
        f.conv.zeroGradients()
        f.activation.logits.grad.zero()
        f.weight.logits.grad.zero()
        _ = f.conv.backward(gy)
        #expect(relativeError(dThetaA, f.activation.lastThetaGradient) < 1e-5, "\(dThetaA) vs \(f.activation.lastThetaGradient)")
        #expect(relativeError(dThetaB, f.weight.lastThetaGradient) < 1e-5, "\(dThetaB) vs \(f.weight.lastThetaGradient)")
        #expect(relativeError(refAlpha, doubles(f.activation.logits.grad)) < 1e-4, "\(refAlpha) vs \(f.activation.logits.grad.array)")
        #expect(relativeError(refBeta, doubles(f.weight.logits.grad)) < 1e-4, "\(refBeta) vs \(f.weight.logits.grad.array)")
    }
}
