import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch
import _TestSupport

/// A smooth stand-in candidate Q(x) = p · tanh(c·x) (+ identity when c = 0: Q(x) = p·x) with one learnable
/// scalar p, so that the mixed layer is differentiable everywhere and plain finite differences check the
/// mixing machinery itself: shared-weight accumulation, θ-scaled parameter gradients, logit gradients.
final class SmoothQuantizer: LearnableQuantizer {
    let method: QATMethod
    let role: QuantizerRole
    let bits = 4
    var isUnsigned = false
    let c: Float
    let p: Parameter
    var parameters: [(name: String, parameter: Parameter)] { [("p", p)] }
    var effectiveThreshold: Float { p.value.data[0] }

    init(role: QuantizerRole, c: Float, p: Float, method: QATMethod = .lsq) {
        self.role = role; self.c = c; self.method = method
        self.p = Parameter(Tensor(shape: [1], repeating: p), decays: false)
    }
    func initialize(from statistics: TensorStatistics) {}
    func projectParameters() {}
    private func q(_ x: Float) -> (v: Float, dx: Float, dp: Float) {
        let pv = p.value.data[0]
        if c == 0 { return (pv * x, pv, x) }
        let t = tanh(c * x)
        return (pv * t, pv * c * (1 - t * t), t)
    }
    func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, range: Range<Int>, scale: Float, accumulate: Bool) {
        for i in range { let v = scale * q(x[i]).v; y[i] = accumulate ? y[i] + v : v }
    }
    func backward(_ x: UnsafePointer<Float>, gradOutput g: UnsafePointer<Float>, range: Range<Int>, scale: Float,
                  gradInput dx: UnsafeMutablePointer<Float>?, accumulate: Bool, sums: inout SIMD4<Double>) {
        for i in range {
            let r = q(x[i])
            sums[0] += Double(g[i]) * Double(r.v)
            sums[1] += Double(g[i]) * Double(r.dp)
            if let dx { let e = scale * g[i] * r.dx; dx[i] = accumulate ? dx[i] + e : e }
        }
    }
    func finishBackward(_ sums: SIMD4<Double>, x: UnsafePointer<Float>, count: Int, samples: Int, scale: Float,
                        gradInput: UnsafeMutablePointer<Float>?) -> Double {
        if p.requiresGrad { p.grad.data[0] += Float(Double(scale) * sums[1]) }
        return sums[0]
    }
}

/// A Conv2d with QAT mixed hooks on input and weight (the §11.7 layer: input 2×3×5×5, weight 4×3×3×3, padding 1).
struct QATMixedConvFixture {
    let conv: Conv2d
    let input: Tensor
    let activation: QATMixedQuantHook
    let weight: QATMixedQuantHook

    init(activationBranches: [any LearnableQuantizer], weightBranches: [any LearnableQuantizer], seed: UInt64 = 17) {
        var rng = RNG(seed: seed)
        conv = Conv2d(3, 4, kernelSize: 3, padding: 1, bias: true, rng: &rng)
        input = Tensor.normal([2, 3, 5, 5], rng: &rng)
        activation = QATMixedQuantHook(side: .activation, branches: activationBranches)
        weight = QATMixedQuantHook(side: .weight, branches: weightBranches)
        conv.inputHook = activation
        conv.weightHook = weight
    }

    /// The four real QAT candidates, initialised from the fixture's data.
    static func real(seed: UInt64 = 17) -> QATMixedConvFixture {
        let f = QATMixedConvFixture(activationBranches: QATMethod.allCases.map { $0.makeQuantizer(role: .activation, bits: 4) },
                                    weightBranches: QATMethod.allCases.map { $0.makeQuantizer(role: .weight, bits: 4) },
                                    seed: seed)
        let sa = TensorStatistics.of(f.input), sw = TensorStatistics.of(f.conv.weight.value)
        for b in f.activation.branches { b.initialize(from: sa) }
        for b in f.weight.branches { b.initialize(from: sw) }
        return f
    }

    /// L = ⟨G_y, conv(x)⟩ and a fresh backward with G_y; returns L.
    @discardableResult
    func lossAndBackward(_ gy: Tensor) -> Double {
        let y = conv.forward(input)
        let l = y.dot(gy)
        conv.zeroGradients()
        for h in [activation, weight] {
            h.logits.grad.zero()
            for p in h.quantizerParameters { p.parameter.grad.zero() }
        }
        _ = conv.backward(gy)
        return l
    }
}

@Suite("QATMixedQuantHook")
struct QATMixedQuantHookTests {
    @Test("smooth candidates: ∂L/∂W (shared weight, Eq. 11), ∂L/∂x, every candidate parameter and ∂L/∂α, ∂L/∂β match central differences in one backward")
    func smoothFiniteDifferences() {
        let f = QATMixedConvFixture(
            activationBranches: [SmoothQuantizer(role: .activation, c: 0.7, p: 1.1), SmoothQuantizer(role: .activation, c: 1.5, p: 0.8),
                                 SmoothQuantizer(role: .activation, c: 0, p: 0.9), SmoothQuantizer(role: .activation, c: 2.5, p: 0.6)],
            weightBranches: [SmoothQuantizer(role: .weight, c: 3, p: 0.3), SmoothQuantizer(role: .weight, c: 0, p: 1.2),
                             SmoothQuantizer(role: .weight, c: 6, p: 0.2), SmoothQuantizer(role: .weight, c: 1, p: 0.9)])
        f.activation.logits.value.set([0.3, -0.2, 1.1, 0.05])
        f.weight.logits.value.set([-0.4, 0.9, 0.2, 0.0])
        var rng = RNG(seed: 4)
        let gy = Tensor.uniform(f.conv.geometry(for: f.input.shape).outputShape, -1, 1, rng: &rng)
        // Input gradient needs the conv to produce it.
        f.conv.needsInputGradient = true
        _ = f.conv.forward(f.input)
        f.lossAndBackward(gy)
        let dx = f.conv.backward(gy).copy()   // second backward only for dx (parameter grads re-zeroed below)
        f.lossAndBackward(gy)
        var analytic: [(String, Tensor, Tensor)] = []
        analytic.append(("W", f.conv.weight.value, f.conv.weight.grad.copy()))
        analytic.append(("alpha", f.activation.logits.value, f.activation.logits.grad.copy()))
        analytic.append(("beta", f.weight.logits.value, f.weight.logits.grad.copy()))
        for p in f.activation.quantizerParameters { analytic.append(("act." + p.name, p.parameter.value, p.parameter.grad.copy())) }
        for p in f.weight.quantizerParameters { analytic.append(("w." + p.name, p.parameter.value, p.parameter.grad.copy())) }
        analytic.append(("x", f.input, dx))
        let eps: Float = 1e-2
        for (name, value, grad) in analytic {
            let n = min(value.count, 24)
            var a: [Double] = [], num: [Double] = []
            for k in 0..<n {
                let i = value.count <= 24 ? k : (k * 37) % value.count
                let old = value.data[i]
                value.data[i] = old + eps
                let lp = f.conv.forward(f.input).dot(gy)
                value.data[i] = old - eps
                let lm = f.conv.forward(f.input).dot(gy)
                value.data[i] = old
                a.append(Double(grad.data[i])); num.append((lp - lm) / (2 * Double(eps)))
            }
            let e = normalisedError(a, num)
            #expect(e < 2e-3, "\(name): error \(e)\n analytic \(a)\n numeric \(num)")
        }
        #expect(abs(f.activation.logits.grad.array.reduce(0, +)) < 1e-5)
    }

    @Test("identity weight candidates: Ŵ = W and ∂L/∂W equals the plain conv weight gradient (§11.7, QAT shared weight)")
    func identityWeightCandidates() {
        let f = QATMixedConvFixture(activationBranches: [SmoothQuantizer(role: .activation, c: 0, p: 1)],
                                    weightBranches: (0..<4).map { _ in SmoothQuantizer(role: .weight, c: 0, p: 1) })
        f.weight.logits.value.set([0.3, -1, 2, 0.1])
        var rng = RNG(seed: 1)
        let gy = Tensor.uniform(f.conv.geometry(for: f.input.shape).outputShape, -1, 1, rng: &rng)
        f.lossAndBackward(gy)
        let mixed = f.conv.weight.grad.copy()
        let y = f.conv.forward(f.input).copy()
        f.conv.inputHook = nil
        f.conv.weightHook = nil
        let plainY = f.conv.forward(f.input).copy()
        f.conv.zeroGradients()
        _ = f.conv.backward(gy)
        #expect(y.maxAbsDifference(plainY) < 1e-6)
        #expect(mixed.maxAbsDifference(f.conv.weight.grad) < 1e-5 * max(1, f.conv.weight.grad.maxAbs()))
        #expect(f.weight.logits.grad.maxAbs() < 1e-5)   // identical candidates: ∂L/∂β = 0
    }

    @Test("real candidates: ∂L/∂W = Σ_j θ_j · J_j ⊙ G_Ŵ and each candidate's parameter gradient is θ_j × its lone gradient")
    func sharedWeightGradientIsThetaWeightedSum() {
        let f = QATMixedConvFixture.real()
        f.weight.logits.value.set([0.2, -0.5, 0.9, 0.1])
        let theta = f.weight.theta
        var rng = RNG(seed: 2)
        let g = Tensor.uniform(f.conv.weight.value.shape, -1, 1, rng: &rng)
        let w = f.conv.weight.value
        _ = f.weight.forward(w)
        for p in f.weight.quantizerParameters { p.parameter.grad.zero() }
        let mixed = f.weight.backward(g).copy()
        let mixedParamGrads = f.weight.quantizerParameters.map { $0.parameter.grad.data[0] }
        var expected = [Double](repeating: 0, count: w.count)
        var loneParamGrads: [Float] = []
        for (b, t) in zip(f.weight.branches, theta) {
            let hook = QATQuantHook(quantizer: b)
            _ = hook.forward(w)
            for p in b.parameters { p.parameter.grad.zero() }
            let d = hook.backward(g)
            for i in 0..<w.count { expected[i] += t * Double(d.data[i]) }
            loneParamGrads += b.parameters.map { Float(t) * $0.parameter.grad.data[0] }
        }
        #expect(relativeError(expected, doubles(mixed)) < 1e-5)
        for (m, l) in zip(mixedParamGrads, loneParamGrads) { #expect(abs(m - l) <= 1e-5 * max(1, abs(l))) }
        #expect(mixedParamGrads.count == 4)   // DSQ u, α; LSQ s; PACT a_w (DoReFa has none)
    }

    /// τ = 1 is the paper's mixture; τ = 0.3 a point of the annealed schedule (θ = softmax(l/τ), the logit
    /// gradient gains 1/τ), where the finite-difference step shrinks with τ.
    @Test("real candidates: ∂L/∂α, ∂L/∂β of one mixed QAT conv match central differences at τ = 1 and at τ = 0.3 (L is smooth in the logits)",
          arguments: [(1.0, Float(1e-2), 2e-3), (0.3, Float(3e-3), 3e-3)])
    func logitFiniteDifferences(temperature: Double, h: Float, tolerance: Double) {
        let f = QATMixedConvFixture.real()
        f.activation.logits.value.set([0.3, -0.2, 1.1, 0.05])
        f.weight.logits.value.set([-0.4, 0.9, 0.2, 0.0])
        f.activation.temperature = temperature
        f.weight.temperature = temperature
        var rng = RNG(seed: 9)
        let gy = Tensor.uniform(f.conv.geometry(for: f.input.shape).outputShape, -1, 1, rng: &rng)
        f.lossAndBackward(gy)
        for logits in [f.activation.logits, f.weight.logits] {
            let a = doubles(logits.grad)
            let num = (0..<4).map { k -> Double in
                let old = logits.value.data[k]
                logits.value.data[k] = old + h
                let lp = f.conv.forward(f.input).dot(gy)
                logits.value.data[k] = old - h
                let lm = f.conv.forward(f.input).dot(gy)
                logits.value.data[k] = old
                return (lp - lm) / (2 * Double(h))
            }
            #expect(normalisedError(a, num) < tolerance, "\(a) vs \(num)")
            #expect(abs(a.reduce(0, +)) < 1e-5 * max(1, a.map(abs).max()!))
        }
    }

    @Test("one-hot θ (logits ±1e4): the mixed layer's output, input and weight gradients and parameter gradients equal the lone candidates' bit for bit")
    func oneHotEqualsSingleCandidate() {
        for (i, j) in [(0, 2), (1, 3), (2, 0), (3, 1)] {
            let f = QATMixedConvFixture.real(seed: 30 + UInt64(i))
            var al = [Float](repeating: -1e4, count: 4), be = al
            al[i] = 1e4; be[j] = 1e4
            f.activation.logits.value.set(al)
            f.weight.logits.value.set(be)
            f.conv.needsInputGradient = true
            var rng = RNG(seed: 5)
            let gy = Tensor.uniform(f.conv.geometry(for: f.input.shape).outputShape, -1, 1, rng: &rng)
            let y = f.conv.forward(f.input).copy()
            f.conv.zeroGradients()
            for p in f.activation.quantizerParameters + f.weight.quantizerParameters { p.parameter.grad.zero() }
            let dx = f.conv.backward(gy).copy()
            let dW = f.conv.weight.grad.copy()
            let mixedA = f.activation.branches[i].parameters.map { $0.parameter.grad.data[0] }
            let mixedW = f.weight.branches[j].parameters.map { $0.parameter.grad.data[0] }

            f.conv.inputHook = QATQuantHook(quantizer: f.activation.branches[i])
            f.conv.weightHook = QATQuantHook(quantizer: f.weight.branches[j])
            let y1 = f.conv.forward(f.input).copy()
            f.conv.zeroGradients()
            for p in f.activation.quantizerParameters + f.weight.quantizerParameters { p.parameter.grad.zero() }
            let dx1 = f.conv.backward(gy).copy()
            #expect(y.array == y1.array, "candidates \(i), \(j)")
            #expect(dx.array == dx1.array)
            #expect(dW.array == f.conv.weight.grad.array)
            #expect(mixedA == f.activation.branches[i].parameters.map { $0.parameter.grad.data[0] })
            #expect(mixedW == f.weight.branches[j].parameters.map { $0.parameter.grad.data[0] })
        }
    }

    @Test("winner-take-all mode runs only the argmax candidate (ties -> lowest index) and leaves the logits' gradient alone")
    func winnerTakeAll() {
        let f = QATMixedConvFixture.real()
        f.weight.logits.value.set([0.1, 0.7, 0.7, 0.2])
        f.weight.mode = .winnerTakeAll
        #expect(f.weight.winner == 1)
        #expect(f.weight.theta == [0, 1, 0, 0])
        let w = f.conv.weight.value
        let mixed = f.weight.forward(w).copy()
        let lone = QATQuantHook(quantizer: f.weight.branches[1]).forward(w)
        #expect(mixed.array == lone.array)
        f.weight.logits.grad.zero()
        _ = f.weight.backward(Tensor(shape: w.shape, repeating: 1))
        #expect(f.weight.logits.grad.array == [0, 0, 0, 0])
    }
}
