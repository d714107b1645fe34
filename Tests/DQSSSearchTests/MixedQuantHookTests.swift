import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch
import _TestSupport

@Suite("MixedQuantHook")
struct MixedQuantHookTests {
    @Test("forward is Σ θ_i Q_i(x) of the candidates' fake-quantized tensors")
    func forwardIsMixture() {
        let f = MixedConvFixture()
        f.setLogits(alpha: [0.3, -0.2, 1.1, 0.05], beta: [-0.4, 0.9, 0.2, 0.0])
        let theta = f.activation.theta
        #expect(abs(theta.reduce(0, +) - 1) < 1e-12)
        let out = f.activation.forward(f.input).copy()
        var expected = [Double](repeating: 0, count: f.input.count)
        for (b, t) in zip(f.activationBranches, theta) {
            let q = b.quantizer.fakeQuantized(f.input, threshold: b.threshold)
            for e in expected.indices { expected[e] += Double(Float(t)) * Double(q.data[e]) }
        }
        #expect(relativeError(expected, doubles(out)) < 1e-6)
    }

    @Test("one mixed conv layer: ∂L/∂α, ∂L/∂β of §5.3 match central differences in Float64 (rel 1e-6), Σ_k ∂L/∂α_k = 0 to 1e-12; the Float32 operator matches that reference and Float32 finite differences")
    func finiteDifferencesOneLayer() {
        let f = MixedConvFixture()
        let alpha0: [Double] = [0.3, -0.2, 1.1, 0.05], beta0: [Double] = [-0.4, 0.9, 0.2, 0.0]
        f.setLogits(alpha: alpha0.map(Float.init), beta: beta0.map(Float.init))
        var rng = RNG(seed: 99)
        let gy = Tensor.uniform(f.geometry.outputShape, -1, 1, rng: &rng)

        // Float64 reference: P_ij = ⟨G_y, W_j * A_i⟩ with the (exact) quantized Float values as Double.
        let P = f.branchProducts(gy)
        func loss(_ al: [Double], _ be: [Double]) -> Double {   // bias term is constant in α, β
            let ta = ArchitectureSoftmax.probabilities(al), tb = ArchitectureSoftmax.probabilities(be)
            var l = 0.0
            for i in 0..<4 { for j in 0..<4 { l += ta[i] * tb[j] * P[i][j] } }
            return l
        }
        let ta = ArchitectureSoftmax.probabilities(alpha0), tb = ArchitectureSoftmax.probabilities(beta0)
        let dThetaA = (0..<4).map { i in (0..<4).reduce(0.0) { $0 + tb[$1] * P[i][$1] } }   // ⟨G_Â, A_i⟩
        let dThetaB = (0..<4).map { j in (0..<4).reduce(0.0) { $0 + ta[$1] * P[$1][j] } }   // ⟨G_Ŵ, W_j⟩
        let refAlpha = ArchitectureSoftmax.logitGradient(theta: ta, thetaGradient: dThetaA)
        let refBeta = ArchitectureSoftmax.logitGradient(theta: tb, thetaGradient: dThetaB)
        let h = 1e-5
        let fdAlpha = (0..<4).map { k -> Double in
            var p = alpha0, m = alpha0
            p[k] += h; m[k] -= h
            return (loss(p, beta0) - loss(m, beta0)) / (2 * h)
        }
        let fdBeta = (0..<4).map { k -> Double in
            var p = beta0, m = beta0
            p[k] += h; m[k] -= h
            return (loss(alpha0, p) - loss(alpha0, m)) / (2 * h)
        }
        #expect(relativeError(refAlpha, fdAlpha) < 1e-6)
        #expect(relativeError(refBeta, fdBeta) < 1e-6)
        #expect(abs(refAlpha.reduce(0, +)) < 1e-12)
        #expect(abs(refBeta.reduce(0, +)) < 1e-12)

        // The Float32 operator against the Float64 reference (float32 rounding of the convolution).
        _ = f.conv.forward(f.input)
        f.conv.zeroGradients()
        f.activation.logits.grad.zero()
        f.weight.logits.grad.zero()
        _ = f.conv.backward(gy)
        let opAlpha = doubles(f.activation.logits.grad), opBeta = doubles(f.weight.logits.grad)
        #expect(relativeError(refAlpha, opAlpha) < 1e-4, "\(refAlpha) vs \(opAlpha)")
        #expect(relativeError(refBeta, opBeta) < 1e-4, "\(refBeta) vs \(opBeta)")
        #expect(relativeError(dThetaA, f.activation.lastThetaGradient) < 1e-5)
        #expect(relativeError(dThetaB, f.weight.lastThetaGradient) < 1e-5)
        #expect(abs(opAlpha.reduce(0, +)) < 1e-6 * max(1, opAlpha.map(abs).max()!))

        // Float32 central differences of L = ⟨G_y, y⟩ on the operator itself (step 1e-2: L is smooth in
        // the logits, the Float32 forward limits precision to ~1e-3 relative).
        func opLoss() -> Double { f.conv.forward(f.input).dot(gy) }
        for (hook, analytic) in [(f.activation, opAlpha), (f.weight, opBeta)] {
            let numeric = (0..<4).map { k -> Double in
                let old = hook.logits.value.data[k]
                hook.logits.value.data[k] = old + 1e-2
                let lp = opLoss()
                hook.logits.value.data[k] = old - 1e-2
                let lm = opLoss()
                hook.logits.value.data[k] = old
                return (lp - lm) / 2e-2
            }
            #expect(relativeError(analytic, numeric) < 5e-3, "\(hook.side): \(analytic) vs \(numeric)")
        }
    }

    @Test("∂L/∂x is Σ θ_i STE_i ⊙ G (the hook's input gradient)")
    func inputGradient() {
        let f = MixedConvFixture()
        f.setLogits(alpha: [0.3, -0.2, 1.1, 0.05], beta: [0, 0, 0, 0])
        var rng = RNG(seed: 5)
        _ = f.activation.forward(f.input)
        let gOut = Tensor.uniform(f.input.shape, -1, 1, rng: &rng)
        let dx = f.activation.backward(gOut).copy()
        let theta = f.activation.theta
        var expected = [Double](repeating: 0, count: f.input.count)
        for (b, t) in zip(f.activationBranches, theta) {
            let mask = b.quantizer.steMask(f.input, threshold: b.threshold)
            for e in expected.indices { expected[e] += Double(Float(t)) * Double(mask[e]) * Double(gOut.data[e]) }
        }
        #expect(relativeError(expected, doubles(dx)) < 1e-6)
        // Some elements are clipped by the smallest threshold only: they get a partial gradient.
        #expect(expected.contains { $0 != 0 && abs($0) < abs(Double(gOut.data[expected.firstIndex(of: $0)!])) * 0.99 })
    }

    @Test("one-hot θ (logits ±1e4) equals the single-strategy FakeQuantHook layer bit for bit, for every (i, j), in output and input gradient; winner-take-all mode too")
    func oneHotBitForBit() {
        let f = MixedConvFixture(unsignedInput: false)
        var rng = RNG(seed: 3)
        // Include exact zeros and tiny negatives (signed zeros after rounding).
        f.input.data[0] = 0; f.input.data[1] = -1e-6; f.input.data[2] = 1e-6
        let gy = Tensor.uniform(f.geometry.outputShape, -1, 1, rng: &rng)
        var ref = RNG(seed: 11)
        let single = Conv2d(3, 4, kernelSize: 3, padding: 1, bias: true, rng: &ref)
        single.weight.value.assign(f.conv.weight.value)
        single.bias!.value.assign(f.conv.bias!.value)
        for i in 0..<4 {
            for j in 0..<4 {
                var a = [Float](repeating: -1e4, count: 4), b = a
                a[i] = 1e4; b[j] = 1e4
                f.setLogits(alpha: a, beta: b)
                #expect(f.activation.theta == (0..<4).map { $0 == i ? 1 : 0 })
                let y = f.conv.forward(f.input).copy()
                let dx = f.conv.backward(gy).copy()
                let ab = f.activationBranches[i], wb = f.weightBranches[j]
                single.inputHook = FakeQuantHook(quantizer: ab.quantizer, threshold: ab.threshold)
                single.weightHook = FakeQuantHook(quantizer: wb.quantizer, threshold: wb.threshold)
                let ys = single.forward(f.input).copy()
                let dxs = single.backward(gy).copy()
                #expect(y.array.map(\.bitPattern) == ys.array.map(\.bitPattern), "forward (i, j) = (\(i), \(j))")
                #expect(dx.array.map(\.bitPattern) == dxs.array.map(\.bitPattern), "input gradient (i, j) = (\(i), \(j))")
                // The hooked tensors themselves, bit for bit.
                let aq = ab.quantizer.fakeQuantized(f.input, threshold: ab.threshold)
                #expect(f.activation.forward(f.input).array.map(\.bitPattern) == aq.array.map(\.bitPattern))
            }
        }
        // Winner-take-all mode: θ = e_argmax whatever the softmax gives.
        f.setLogits(alpha: [0.1, 0.4, 0.4, 0.2], beta: [0.3, 0.1, 0.1, 0.3])
        f.activation.mode = .winnerTakeAll
        f.weight.mode = .winnerTakeAll
        #expect(f.activation.winner == 1 && f.weight.winner == 0)
        let y = f.conv.forward(f.input).copy()
        single.inputHook = FakeQuantHook(quantizer: f.activationBranches[1].quantizer, threshold: f.activationBranches[1].threshold)
        single.weightHook = FakeQuantHook(quantizer: f.weightBranches[0].quantizer, threshold: f.weightBranches[0].threshold)
        #expect(y.array.map(\.bitPattern) == single.forward(f.input).array.map(\.bitPattern))
    }

    @Test("all candidates equal: the mixed layer equals the single quantized layer for every θ and ∂L/∂α = ∂L/∂β = 0")
    func identicalCandidates() {
        let f = MixedConvFixture(activationScales: [0.9, 0.9, 0.9, 0.9], weightScales: [0.8, 0.8, 0.8, 0.8])
        var rng = RNG(seed: 8)
        let gy = Tensor.uniform(f.geometry.outputShape, -1, 1, rng: &rng)
        var ref = RNG(seed: 11)
        let single = Conv2d(3, 4, kernelSize: 3, padding: 1, bias: true, rng: &ref)
        single.weight.value.assign(f.conv.weight.value)
        single.bias!.value.assign(f.conv.bias!.value)
        let ab = f.activationBranches[0], wb = f.weightBranches[0]
        single.inputHook = FakeQuantHook(quantizer: ab.quantizer, threshold: ab.threshold)
        single.weightHook = FakeQuantHook(quantizer: wb.quantizer, threshold: wb.threshold)
        let ys = doubles(single.forward(f.input))
        for trial in 0..<5 {
            let a = (0..<4).map { _ in Float(rng.uniform() * 4 - 2) }, b = (0..<4).map { _ in Float(rng.uniform() * 4 - 2) }
            f.setLogits(alpha: a, beta: b)
            let y = doubles(f.conv.forward(f.input))
            #expect(relativeError(ys, y) < 1e-6, "trial \(trial)")
            f.activation.logits.grad.zero()
            f.weight.logits.grad.zero()
            _ = f.conv.backward(gy)
            #expect(f.activation.logits.grad.array == [0, 0, 0, 0])
            #expect(f.weight.logits.grad.array == [0, 0, 0, 0])
        }
    }

    @Test("uniform mode (DQSS-None) is the θ = 1/N mixture whatever the logits; N = 1 is the single quantizer")
    func uniformModeAndSingleBranch() {
        let f = MixedConvFixture()
        f.setLogits(alpha: [3, -1, 0, 2], beta: [0, 0, 5, 0])
        f.activation.mode = .uniform
        f.weight.mode = .uniform
        let yUniform = f.conv.forward(f.input).copy()
        f.activation.mode = .soft
        f.weight.mode = .soft
        f.setLogits(alpha: [0.1, 0.1, 0.1, 0.1], beta: [0.1, 0.1, 0.1, 0.1])
        #expect(f.conv.forward(f.input).array == yUniform.array)

        let one = MixedConvFixture(activationScales: [0.7], weightScales: [0.9])
        let hook = FakeQuantHook(quantizer: one.activationBranches[0].quantizer, threshold: one.activationBranches[0].threshold)
        #expect(one.activation.forward(one.input).array.map(\.bitPattern) == hook.forward(one.input).array.map(\.bitPattern))
        #expect(one.activation.theta == [1])
    }

    @Test("a one-branch mixture equals FakeQuantHook bit for bit on exact ties, ±0, huge and tiny values (fused rounding = half to even)")
    func roundingBitForBit() {
        var values: [Float] = [0, -0.0, 1e-30, -1e-30, .infinity, -.infinity, 3e38, -3e38]
        for k in -300...300 { values.append((Float(k) + 0.5) * 0.25) }   // exact ties k + 0.5 in code units (s = 0.25)
        var rng = RNG(seed: 77)
        for _ in 0..<3000 { values.append(rng.uniform(-1, 1) * Float(1 << rng.int(below: 30)) * 1e-3) }
        let x = Tensor(shape: [values.count], values: values)
        for (bits, unsigned, t) in [(8, false, Float(31.75)), (8, true, Float(63.75)), (16, false, Float(8191.75)),
                                    (4, false, Float(1.75)), (8, false, Float(1e-30))] {
            let q = UniformQuantizer(bits: bits, unsigned: unsigned)
            let hook = MixedQuantHook(side: .activation, branches: [QuantizerBranch(name: "b", quantizer: q, threshold: t)])
            let ref = FakeQuantHook(quantizer: q, threshold: t)
            #expect(hook.forward(x).array.map(\.bitPattern) == ref.forward(x).array.map(\.bitPattern), "\(q), T \(t)")
        }
    }

    @Test("a mixed Linear layer runs one matmul of the mixtures (hooks work on Linear too)")
    func mixedLinear() {
        var rng = RNG(seed: 21)
        let layer = Linear(6, 3, rng: &rng)
        let x = Tensor.normal([4, 6], rng: &rng)
        let q = UniformQuantizer(bits: 4)
        let ab = [0.5, 1.0, 1.5].map { QuantizerBranch(name: "a\($0)", quantizer: q, threshold: Float($0)) }
        let wb = [0.2, 0.4].map { QuantizerBranch(name: "w\($0)", quantizer: q, threshold: Float($0)) }
        let a = MixedQuantHook(side: .activation, branches: ab), w = MixedQuantHook(side: .weight, branches: wb)
        a.logits.value.set([0.2, -0.3, 0.5]); w.logits.value.set([1, -1])
        layer.inputHook = a; layer.weightHook = w
        let y = doubles(layer.forward(x))
        let xm = a.forward(x).copy(), wm = w.forward(layer.weight.value).copy()
        var expected = [Double](repeating: 0, count: 12)
        for n in 0..<4 { for o in 0..<3 {
            var s = Double(layer.bias!.value.data[o])
            for i in 0..<6 { s += Double(xm.data[n * 6 + i]) * Double(wm.data[o * 6 + i]) }
            expected[n * 3 + o] = s
        } }
        #expect(relativeError(expected, y) < 1e-5)
    }
}
