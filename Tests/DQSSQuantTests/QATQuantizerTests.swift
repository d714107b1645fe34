import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant
import _TestSupport

/// Forward values, backward (dx, parameter gradients) and ⟨g, Q(x)⟩ of one quantizer on small arrays.
func runQuantizer(_ q: any LearnableQuantizer, _ x: [Float], gradient g: [Float]? = nil, samples: Int = 1)
    -> (y: [Float], dx: [Float], dot: Double) {
    let g = g ?? [Float](repeating: 1, count: x.count)
    var y = [Float](repeating: 0, count: x.count), dx = y
    for p in q.parameters { p.parameter.grad.zero() }
    var dot = 0.0
    x.withUnsafeBufferPointer { xp in
        g.withUnsafeBufferPointer { gp in
            y.withUnsafeMutableBufferPointer { yp in
                q.forward(xp.baseAddress!, into: yp.baseAddress!, count: x.count, scale: 1, accumulate: false)
            }
            dx.withUnsafeMutableBufferPointer { dp in
                dot = q.backward(xp.baseAddress!, gradOutput: gp.baseAddress!, count: x.count, samples: samples,
                                 scale: 1, gradInput: dp.baseAddress!, accumulate: false)
            }
        }
    }
    return (y, dx, dot)
}

func close(_ a: [Float], _ b: [Double], _ tol: Double = 1e-6) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs(Double($0) - $1) <= tol }
}

/// Normalised max error (by the largest magnitude) between two gradient vectors.
func gradientError(_ a: [Double], _ b: [Double]) -> Double { normalisedError(a, b, floor: 1e-12) }

/// ALGORITHMS.md §11.6 oracles and finite-difference checks of the QAT quantizers (§4).
@Suite("QAT quantizers")
struct QATQuantizerTests {
    @Test("§11.6 LSQ 4-bit signed, s = 0.2: v̂, ∂L/∂v = [1,1,1,0], raw ∂L/∂s = 7.65 scaled by 1/sqrt(4·7) = 1.445714")
    func lsqOracle() {
        let q = LSQQuantizer(role: .weight, bits: 4)
        q.step.value.data[0] = 0.2
        let r = runQuantizer(q, [-1.0, 0.33, 0.74, 2.0])
        #expect(close(r.y, [-1.0, 0.4, 0.8, 1.4]), "\(r.y)")
        #expect(r.dx == [1, 1, 1, 0])
        #expect(abs(Double(q.step.grad.data[0]) - 1.445714) < 2e-6, "\(q.step.grad.data[0])")
        #expect(abs(q.gradientScale(count: 4, samples: 1) - 0.188982) < 1e-6)
        // Activations: N = features per sample (default) or the whole batch tensor (--lsq-grad-n batch).
        #expect(abs(LSQQuantizer(role: .activation, bits: 4).gradientScale(count: 8, samples: 2) - 1 / (4.0 * 7).squareRoot()) < 1e-12)
        #expect(abs(LSQQuantizer(role: .activation, bits: 4, gradientPerBatch: true).gradientScale(count: 8, samples: 2)
                    - 1 / (8.0 * 7).squareRoot()) < 1e-12)
    }

    @Test("§11.6 PACT 4-bit unsigned, a = 1: x̂ = [0, 2/15, 8/15, 1], ∂L/∂x = [0,1,1,0], ∂L/∂a = 1")
    func pactOracle() {
        let q = PACTQuantizer(role: .activation, bits: 4, unsigned: true)
        q.clip.value.data[0] = 1
        let r = runQuantizer(q, [-0.5, 0.12, 0.52, 1.7])
        #expect(close(r.y, [0, 2.0 / 15, 8.0 / 15, 1]), "\(r.y)")
        #expect(r.dx == [0, 1, 1, 0])
        #expect(q.clip.grad.data[0] == 1)
        // Signed: an element at or below −a pulls a down.
        let s = PACTQuantizer(role: .weight, bits: 4)
        s.clip.value.data[0] = 1
        let rs = runQuantizer(s, [-1.5, 0.3, 2.0, 2.5])
        #expect(rs.dx == [0, 1, 0, 0])
        #expect(s.clip.grad.data[0] == 1)   // −1 + 1 + 1
        #expect(s.clip.decays)              // §4.4: L2 decay on a
    }

    @Test("§11.6 DSQ 4-bit unsigned, u = 1.5, α = 0.2, x = 0.26: soft 0.2635158, hard 0.3, ∂x̂/∂x 1.3090438")
    func dsqOracle() {
        let d = DSQQuantizer.soft(0.26, u: 1.5, alpha: 0.2, intervals: 15, signed: false)
        #expect(abs(d.value - 0.2635158) < 1e-7)
        #expect(abs(d.dx - 1.3090438) < 1e-7)
        let k = 10 * log(9.0)
        #expect(abs(k - 21.972246) < 1e-6)
        let q = DSQQuantizer(role: .activation, bits: 4, unsigned: true)
        q.upper.value.data[0] = 1.5
        #expect(q.intervals == 15)
        let r = runQuantizer(q, [0.26])
        #expect(abs(r.y[0] - 0.3) < 1e-7)
        #expect(abs(Double(r.dx[0]) - 1.3090438) < 1e-5)
        // Clipped above: ∂x̂/∂u = 1, ∂x̂/∂x = 0, ∂x̂/∂α = 0; soft at the clip equals u exactly.
        let c = runQuantizer(q, [2.0])
        #expect(c.dx == [0] && q.upper.grad.data[0] == 1 && q.alpha.grad.data[0] == 0)
        let edge = DSQQuantizer.soft(1.5 - 1e-12, u: 1.5, alpha: 0.2, intervals: 15, signed: false)
        #expect(abs(edge.value - 1.5) < 1e-9)
        // Signed clip below: ∂x̂/∂u = −1.
        let w = DSQQuantizer(role: .weight, bits: 4)
        w.upper.value.data[0] = 1
        _ = runQuantizer(w, [-3])
        #expect(w.upper.grad.data[0] == -1)
        #expect(w.intervals == 14)
    }

    @Test("§11.6 DoReFa weights W = [−1, −0.2, 0, 0.5]: symmetric [−1, −2/7, 0, 4/7]; original [−1, −0.2, 1/15, 0.6]")
    func dorefaWeightOracle() {
        let w: [Float] = [-1.0, -0.2, 0.0, 0.5]
        let t = w.map { tanh(Double($0)) }
        #expect(close(t.map(Float.init), [-0.7615942, -0.1973753, 0, 0.4621172], 1e-7))
        let sym = runQuantizer(DoReFaQuantizer(role: .weight, bits: 4), w)
        #expect(close(sym.y, [-1, -2.0 / 7, 0, 4.0 / 7]), "\(sym.y)")
        let orig = runQuantizer(DoReFaQuantizer(role: .weight, bits: 4, originalWeights: true), w)
        #expect(close(orig.y, [-1, -0.2, 1.0 / 15, 0.6]), "\(orig.y)")
        // Rescale c = max|W|: W·3 gives 3 × the quantized values of tanh(3W)'s grid.
        let scaled = runQuantizer(DoReFaQuantizer(role: .weight, bits: 4), w.map { $0 * 3 })
        #expect(abs(scaled.y[0] + 3) < 1e-6)
        let noRescale = runQuantizer(DoReFaQuantizer(role: .weight, bits: 4, rescale: false), w.map { $0 * 3 })
        #expect(abs(noRescale.y[0] + 1) < 1e-6)
    }

    @Test("§11.6 DoReFa activations 4-bit unsigned x = [−0.3, 0.2, 0.5, 1.4] → [0, 0.2, 8/15, 1], STE mask [0,1,1,0]")
    func dorefaActivationOracle() {
        let r = runQuantizer(DoReFaQuantizer(role: .activation, bits: 4, unsigned: true), [-0.3, 0.2, 0.5, 1.4])
        #expect(close(r.y, [0, 0.2, 8.0 / 15, 1]), "\(r.y)")
        #expect(r.dx == [0, 1, 1, 0])
        // Signed: clamp to [−1, 1], 7 levels per side.
        let s = runQuantizer(DoReFaQuantizer(role: .activation, bits: 4), [-2, -0.5, 0.3, 1.2])
        #expect(close(s.y, [-1, -4.0 / 7, 2.0 / 7, 1]), "\(s.y)")
        #expect(s.dx == [0, 1, 1, 0])
    }

    @Test("every quantizer returns ⟨g, Q(x)⟩ and honours scale/accumulate: y += θ·Q(x), dx += θ·J⊙g, ∂p += θ·∂p")
    func scaleAndAccumulate() {
        var rng = RNG(seed: 5)
        let x = (0..<200).map { _ in rng.normal() }
        let g = (0..<200).map { _ in rng.uniform(-1, 1) }
        for method in QATMethod.allCases {
            for role in [QuantizerRole.activation, .weight] {
                let q = method.makeQuantizer(role: role, bits: 4)
                q.initialize(from: TensorStatistics.of(Tensor(shape: [200], values: x)))
                let base = runQuantizer(q, x, gradient: g)
                #expect(abs(base.dot - zip(base.y, g).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }) < 1e-4)
                let baseGrads = q.parameters.map { $0.parameter.grad.data[0] }
                var y = [Float](repeating: 0.5, count: 200), dx = [Float](repeating: -0.25, count: 200)
                for p in q.parameters { p.parameter.grad.zero() }
                x.withUnsafeBufferPointer { xp in g.withUnsafeBufferPointer { gp in
                    y.withUnsafeMutableBufferPointer { q.forward(xp.baseAddress!, into: $0.baseAddress!, count: 200, scale: 0.3, accumulate: true) }
                    dx.withUnsafeMutableBufferPointer {
                        _ = q.backward(xp.baseAddress!, gradOutput: gp.baseAddress!, count: 200, samples: 1, scale: 0.3,
                                       gradInput: $0.baseAddress!, accumulate: true)
                    }
                } }
                for i in 0..<200 {
                    #expect(abs(y[i] - (0.5 + 0.3 * base.y[i])) < 1e-5)
                    #expect(abs(dx[i] - (-0.25 + 0.3 * base.dx[i])) < 1e-5)
                }
                for (p, b) in zip(q.parameters, baseGrads) {
                    #expect(abs(p.parameter.grad.data[0] - 0.3 * b) <= 1e-5 * max(1, abs(b)), "\(method) \(role) \(p.name)")
                }
            }
        }
    }

    // MARK: - Finite differences of the surrogate expressions (§11.6 last item)

    @Test("DSQ: ∂soft/∂u, ∂soft/∂α, ∂soft/∂x match central differences of soft (i held constant) in Float64, rel < 1e-5; the Float kernel sums agree")
    func dsqFiniteDifferences() {
        var rng = RNG(seed: 21)
        for signed in [false, true] {
            let u = 1.3, alpha = 0.27, n = signed ? 14 : 15
            let xs: [Double] = (0..<64).map { _ in Double(rng.uniform(signed ? -1.6 : -0.2, 1.6)) }
            let g: [Double] = (0..<64).map { _ in Double(rng.uniform(-1, 1)) }
            let h = 1e-6
            func loss(_ u: Double, _ a: Double, frozenAt u0: Double, _ a0: Double) -> Double {
                // i is held at its value for (u0, a0): evaluate soft with the interval index of the base point.
                var l = 0.0
                for (x, gi) in zip(xs, g) { l += gi * softFrozen(x, u: u, alpha: a, baseU: u0, n: n, signed: signed) }
                return l
            }
            var du = 0.0, da = 0.0
            var dxs: [Double] = []
            for (x, gi) in zip(xs, g) {
                let d = DSQQuantizer.soft(x, u: u, alpha: alpha, intervals: n, signed: signed)
                du += gi * d.du; da += gi * d.dalpha; dxs.append(d.dx)
            }
            let fdU = (loss(u + h, alpha, frozenAt: u, alpha) - loss(u - h, alpha, frozenAt: u, alpha)) / (2 * h)
            let fdA = (loss(u, alpha + h, frozenAt: u, alpha) - loss(u, alpha - h, frozenAt: u, alpha)) / (2 * h)
            #expect(abs(du - fdU) / abs(fdU) < 1e-5, "signed \(signed): ∂u \(du) vs \(fdU)")
            #expect(abs(da - fdA) / abs(fdA) < 1e-5, "signed \(signed): ∂α \(da) vs \(fdA)")
            let fdX = xs.map { x in
                (softFrozen(x + h, u: u, alpha: alpha, baseU: u, n: n, signed: signed, baseX: x)
                 - softFrozen(x - h, u: u, alpha: alpha, baseU: u, n: n, signed: signed, baseX: x)) / (2 * h)
            }
            #expect(gradientError(dxs, fdX) < 1e-5)

            // The Float kernel accumulates the same sums.
            let q = DSQQuantizer(role: signed ? .weight : .activation, bits: 4, unsigned: !signed)
            q.upper.value.data[0] = Float(u); q.alpha.value.data[0] = Float(alpha)
            let xf = xs.map { Float($0) }, gf = g.map { Float($0) }
            let r = runQuantizer(q, xf, gradient: gf)
            #expect(abs(Double(q.upper.grad.data[0]) - du) / abs(du) < 1e-4)
            #expect(abs(Double(q.alpha.grad.data[0]) - da) / abs(da) < 1e-4)
            #expect(gradientError(zip(r.dx, gf).map { Double($0) / Double($1) }, dxs) < 1e-4)
        }
    }

    @Test("LSQ: ∂L/∂s matches central differences of the STE surrogate s·(clamp(v/s) + frozen rounding offset), × g, rel < 1e-5")
    func lsqFiniteDifferences() {
        var rng = RNG(seed: 3)
        for unsigned in [false, true] {
            let count = 48, samples = 2
            let x: [Float] = (0..<count).map { _ in unsigned ? abs(rng.normal()) * 1.2 : rng.normal() * 1.2 }
            let g: [Float] = (0..<count).map { _ in rng.uniform(-1, 1) }
            let q = LSQQuantizer(role: .activation, bits: 4, unsigned: unsigned)
            let s0: Float = 0.17
            q.step.value.data[0] = s0
            _ = runQuantizer(q, x, gradient: g, samples: samples)
            let lo = Double(q.qmin), hi = Double(q.qmax)
            let offsets = x.map { v -> Double in
                let c = min(max(Double(v) / Double(s0), lo), hi)
                return c.rounded(.toNearestOrEven) - c
            }
            func loss(_ s: Double) -> Double {
                zip(zip(x, g), offsets).reduce(0.0) { acc, e in
                    let ((v, gi), o) = e
                    return acc + Double(gi) * s * (min(max(Double(v) / s, lo), hi) + o)
                }
            }
            let h = 1e-6, s = Double(s0)
            let fd = (loss(s + h) - loss(s - h)) / (2 * h) * q.gradientScale(count: count, samples: samples)
            #expect(abs(Double(q.step.grad.data[0]) - fd) / abs(fd) < 1e-5, "\(q.step.grad.data[0]) vs \(fd)")
        }
    }

    @Test("PACT: ∂L/∂a matches central differences of the surrogate clamp(x, l(a), a) + frozen rounding error, rel < 1e-5")
    func pactFiniteDifferences() {
        var rng = RNG(seed: 8)
        for role in [QuantizerRole.activation, .weight] {
            let x: [Float] = (0..<40).map { _ in role == .activation ? abs(rng.normal()) : rng.normal() }
            let g: [Float] = (0..<40).map { _ in rng.uniform(-1, 1) }
            let q = PACTQuantizer(role: role, bits: 4, unsigned: role == .activation)
            let a0: Float = 0.9
            q.clip.value.data[0] = a0
            _ = runQuantizer(q, x, gradient: g)
            func loss(_ a: Double) -> Double {
                zip(x, g).reduce(0.0) { acc, e in
                    let lo = role == .activation ? 0 : -a
                    return acc + Double(e.1) * min(max(Double(e.0), lo), a)
                }
            }
            let h = 1e-6
            let fd = (loss(Double(a0) + h) - loss(Double(a0) - h)) / (2 * h)
            #expect(abs(Double(q.clip.grad.data[0]) - fd) / abs(fd) < 1e-5, "\(role): \(q.clip.grad.data[0]) vs \(fd)")
        }
    }

    @Test("DoReFa weights: ∂L/∂W (STE round, autograd through tanh and the max|tanh| normaliser) matches central differences of the surrogate")
    func dorefaWeightFiniteDifferences() {
        var rng = RNG(seed: 13)
        let w: [Float] = (0..<30).map { _ in rng.normal() * 0.6 }
        let g: [Float] = (0..<30).map { _ in rng.uniform(-1, 1) }
        let q = DoReFaQuantizer(role: .weight, bits: 4)
        let r = runQuantizer(q, w, gradient: g)
        let wd = w.map(Double.init)
        let c = wd.map(abs).max()!                        // stop_gradient(max|W|)
        let m0 = tanh(c)
        let offsets = wd.map { v -> Double in           // frozen rounding offset of w̃·Q
            let z = tanh(v) / m0 * 7
            return min(max(z.rounded(.toNearestOrEven), -7), 7) - z
        }
        func loss(_ w: [Double]) -> Double {
            let m = w.map { abs(tanh($0)) }.max()!
            return zip(zip(w, g), offsets).reduce(0.0) { acc, e in
                let ((v, gi), o) = e
                return acc + Double(gi) * c * (tanh(v) / m * 7 + o) / 7
            }
        }
        let h = 1e-6
        let fd = (0..<w.count).map { k -> Double in
            var p = wd, mi = wd
            p[k] += h; mi[k] -= h
            return (loss(p) - loss(mi)) / (2 * h)
        }
        #expect(gradientError(r.dx.map(Double.init), fd) < 1e-5, "\(r.dx) vs \(fd)")
        // The argmax element really gets the normaliser term (its gradient differs from the plain chain rule).
        let arg = wd.indices.max { abs(wd[$0]) < abs(wd[$1]) }!
        let plain = Double(g[arg]) * c / m0 * (1 - tanh(wd[arg]) * tanh(wd[arg]))
        #expect(abs(plain - fd[arg]) > 1e-3)
    }

    // MARK: - Initialisation and warm-up observation

    @Test("warm-up statistics: EMA (momentum 0.9, first batch initialises) of max|x| and mean|x|; inits DSQ u = M, LSQ s = 2μ/√Q_p, PACT a = M")
    func warmupInitialisation() {
        var s = TensorStatistics()
        s.observe(Tensor(shape: [4], values: [0, 1, -2, 1]))     // max 2, mean 1
        s.observe(Tensor(shape: [4], values: [4, 3, 3, 2]))      // max 4, mean 3
        #expect(abs(s.maxAbs - 2.2) < 1e-6 && abs(s.meanAbs - 1.2) < 1e-6)
        #expect(!s.isNonNegative && s.batches == 2)
        let lsq = LSQQuantizer(role: .activation, bits: 4, unsigned: true)
        lsq.initialize(from: s)
        #expect(abs(lsq.step.value.data[0] - 2 * 1.2 / Float(15).squareRoot()) < 1e-6)
        let dsq = DSQQuantizer(role: .activation, bits: 4)
        dsq.initialize(from: s)
        #expect(abs(dsq.upper.value.data[0] - 2.2) < 1e-6 && dsq.alpha.value.data[0] == 0.2)
        let pact = PACTQuantizer(role: .activation, bits: 4)
        pact.initialize(from: s)
        #expect(abs(pact.clip.value.data[0] - 2.2) < 1e-6)
        let pact10 = PACTQuantizer(role: .activation, bits: 4, fixedInit: 10)
        pact10.initialize(from: s)
        #expect(pact10.clip.value.data[0] == 10)

        // The hook, observing: unsigned decided by the data, parameters follow the running estimates.
        let hook = QATQuantHook(quantizer: PACTQuantizer(role: .activation, bits: 4))
        hook.observing = true
        _ = hook.forward(Tensor(shape: [1, 3], values: [0, 0.5, 3]))
        #expect(hook.quantizer.isUnsigned && hook.quantizer.effectiveThreshold == 3)
        hook.observing = false
        _ = hook.forward(Tensor(shape: [1, 3], values: [-1, 0.5, 30]))
        #expect(hook.quantizer.isUnsigned && hook.quantizer.effectiveThreshold == 3)
    }

    @Test("projection after a step: LSQ s ← max(|s|, 1.19e-7), DSQ α ∈ [0.01, 0.99]")
    func projection() {
        let lsq = LSQQuantizer(role: .weight, bits: 4)
        lsq.step.value.data[0] = -0.5
        lsq.projectParameters()
        #expect(lsq.step.value.data[0] == 0.5)
        lsq.step.value.data[0] = 0
        lsq.projectParameters()
        #expect(lsq.step.value.data[0] == 1.19e-7)
        let dsq = DSQQuantizer(role: .weight, bits: 4)
        dsq.alpha.value.data[0] = 1.3
        dsq.projectParameters()
        #expect(dsq.alpha.value.data[0] == 0.99)
        dsq.alpha.value.data[0] = -1
        dsq.projectParameters()
        #expect(dsq.alpha.value.data[0] == 0.01)
    }
}

/// soft(x) of §4.2 with the interval index i taken at (baseX, baseU) instead of recomputed — the
/// surrogate whose derivative the spec defines.
func softFrozen(_ x: Double, u: Double, alpha: Double, baseU: Double, n: Int, signed: Bool, baseX: Double? = nil) -> Double {
    let sigma = signed ? 1.0 : 0.0
    let bx = baseX ?? x
    let l0 = -sigma * baseU, d0 = (baseU - l0) / Double(n)
    if bx >= baseU { return u }
    if bx <= l0 { return -sigma * u }
    let i = min(((bx - l0) / d0).rounded(.down), Double(n - 1))
    let l = -sigma * u, delta = (u - l) / Double(n)
    let L = log(2 / alpha - 1), st = 1 / (1 - alpha)
    let z = L / delta * (x - (l + (i + 0.5) * delta))
    return l + delta * (i + 0.5) + delta / 2 * st * tanh(z)
}
