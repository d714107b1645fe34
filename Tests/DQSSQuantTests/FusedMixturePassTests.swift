import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant
import _TestSupport

/// The four candidates of one side, initialised from `x`'s statistics (activations: signedness from x).
private func candidates(_ role: QuantizerRole, x: [Float]) -> [any LearnableQuantizer] {
    let stats = TensorStatistics.of(Tensor(shape: [x.count], values: x))
    return QATMethod.allCases.map { m in
        let q = m.makeQuantizer(role: role, bits: 4, unsigned: role == .activation && stats.isNonNegative)
        q.initialize(from: stats)
        return q
    }
}

/// (y, dx, ⟨G, Q_k⟩ per branch, every parameter gradient) of a mixture run by `fused` or branch by branch.
private func runMixture(_ branches: [any LearnableQuantizer], theta: [Double], x: [Float], g: [Float], samples: Int,
                        fused: Bool) -> (y: [Float], dx: [Float], dots: [Double], grads: [Float]) {
    for b in branches { for p in b.parameters { p.parameter.grad.zero() } }
    var y = [Float](repeating: .nan, count: x.count), dx = y
    var dots = [Double](repeating: 0, count: branches.count)
    x.withUnsafeBufferPointer { xp in g.withUnsafeBufferPointer { gp in
        y.withUnsafeMutableBufferPointer { yp in dx.withUnsafeMutableBufferPointer { dp in
            if fused {
                FusedMixturePass.forward(branches, theta: theta, x: xp.baseAddress!, into: yp.baseAddress!, count: x.count)
                dots = FusedMixturePass.backward(branches, theta: theta, x: xp.baseAddress!, gradOutput: gp.baseAddress!,
                                                 count: x.count, samples: samples, gradInput: dp.baseAddress!)
            } else {
                var first = true
                for (k, b) in branches.enumerated() where theta[k] != 0 {
                    b.forward(xp.baseAddress!, into: yp.baseAddress!, count: x.count, scale: Float(theta[k]), accumulate: !first)
                    first = false
                }
                first = true
                for (k, b) in branches.enumerated() where theta[k] != 0 {
                    dots[k] = b.backward(xp.baseAddress!, gradOutput: gp.baseAddress!, count: x.count, samples: samples,
                                         scale: Float(theta[k]), gradInput: dp.baseAddress!, accumulate: !first)
                    first = false
                }
            }
        } }
    } }
    return (y, dx, dots, branches.flatMap { $0.parameters.map { $0.parameter.grad.data[0] } })
}

@Suite("Fused mixture pass (§5.3: the N candidates of a side in one pass over the tensor)")
struct FusedMixturePassTests {
    // 3·2^15 + 1,037 elements: several reduction chunks, tiles cut by chunk ends, a partial 8-lane group.
    static let count = 3 * (1 << 15) + 1_037

    @Test("activations (ReLU-fed and signed): Â, ∂L/∂x, ⟨G, Q_k⟩ and every candidate parameter gradient equal the four separate passes bit for bit, also with a branch at θ = 0",
          arguments: [true, false])
    func activationsEqualSeparatePasses(reluFed: Bool) {
        var rng = RNG(seed: reluFed ? 31 : 32)
        let x = (0..<Self.count).map { _ in let v = 1.5 * rng.normal(); return reluFed ? max(v, 0) : v }
        let g = (0..<Self.count).map { _ in rng.uniform(-1, 1) }
        for theta in [[0.1, 0.2, 0.3, 0.4], [0.5, 0, 0.25, 0.25]] {
            let separate = runMixture(candidates(.activation, x: x), theta: theta, x: x, g: g, samples: 64, fused: false)
            let fused = runMixture(candidates(.activation, x: x), theta: theta, x: x, g: g, samples: 64, fused: true)
            #expect(fused.y == separate.y, "θ \(theta): forward")
            #expect(fused.dx == separate.dx, "θ \(theta): ∂L/∂x")
            #expect(fused.dots == separate.dots, "θ \(theta): ⟨G, Q_k⟩")
            #expect(fused.grads == separate.grads, "θ \(theta): parameter gradients")
            #expect(fused.dots[1] == (theta[1] == 0 ? 0 : fused.dots[1]))
        }
    }

    @Test("weights (all branches read the same W, Eq. 11): equal the separate passes bit for bit except DoReFa's normaliser term on its argmax element (within 1e-6)")
    func weightsEqualSeparatePasses() {
        var rng = RNG(seed: 33)
        let w = (0..<(64 * 64 * 9 + 5)).map { _ in 0.05 * rng.normal() }
        let g = (0..<w.count).map { _ in rng.uniform(-1, 1) }
        let theta = [0.4, 0.3, 0.2, 0.1]
        let separate = runMixture(candidates(.weight, x: w), theta: theta, x: w, g: g, samples: 1, fused: false)
        let fused = runMixture(candidates(.weight, x: w), theta: theta, x: w, g: g, samples: 1, fused: true)
        #expect(fused.y == separate.y)
        #expect(fused.dots == separate.dots)
        #expect(fused.grads == separate.grads)
        let argmax = w.indices.max { abs(w[$0]) < abs(w[$1]) }!
        var differing = 0
        for i in w.indices where fused.dx[i] != separate.dx[i] {
            differing += 1
            #expect(i == argmax, "element \(i) differs (argmax is \(argmax))")
            #expect(abs(fused.dx[i] - separate.dx[i]) <= 1e-6 * max(1, abs(separate.dx[i])))
        }
        #expect(differing <= 1)
    }

    @Test("no active branch: Â = 0 and ∂L/∂x = 0 (nothing left unwritten)")
    func noActiveBranch() {
        let x: [Float] = [0.3, -1, 2]
        let r = runMixture(candidates(.activation, x: x), theta: [0, 0, 0, 0], x: x, g: [1, 1, 1], samples: 1, fused: true)
        #expect(r.y == [0, 0, 0])
        #expect(r.dx == [0, 0, 0])
        #expect(r.dots == [0, 0, 0, 0])
    }

    @Test("the fused pass gives the same bits with 1 and 2 threads")
    func independentOfThreadCount() {
        var rng = RNG(seed: 34)
        let x = (0..<Self.count).map { _ in rng.normal() }
        let g = (0..<Self.count).map { _ in rng.uniform(-1, 1) }
        let before = Threads.count
        defer { Threads.configure(before) }
        Threads.configure(1)
        let one = runMixture(candidates(.activation, x: x), theta: [0.1, 0.2, 0.3, 0.4], x: x, g: g, samples: 8, fused: true)
        Threads.configure(2)
        let two = runMixture(candidates(.activation, x: x), theta: [0.1, 0.2, 0.3, 0.4], x: x, g: g, samples: 8, fused: true)
        #expect(one.y == two.y && one.dx == two.dx && one.dots == two.dots && one.grads == two.grads)
    }
}

@Suite("QAT quantizer lane kernels")
struct QuantizerLaneTests {
    @Test("forward values round half to even exactly as Float.rounded(.toNearestOrEven): ties k + 1/2 and random values, every candidate (8-bit, signed and unsigned)")
    func roundingMatchesStandardLibrary() {
        var rng = RNG(seed: 35)
        // On LSQ/PACT/DSQ with step 1 the grid value is round(clamp(x)); ties at every half-integer.
        let ties = (-130...130).map { Float($0) + 0.5 }
        let random = (0..<4_001).map { _ in rng.uniform(-140, 140) }
        for unsigned in [false, true] {
            let lo: Float = unsigned ? 0 : -127, hi: Float = unsigned ? 255 : 127
            for x in [ties, random] {
                let expected = x.map { min(max($0, lo), hi).rounded(.toNearestOrEven) }
                let lsq = LSQQuantizer(role: .activation, bits: 8, unsigned: unsigned)
                lsq.step.value.data[0] = 1
                let pact = PACTQuantizer(role: .activation, bits: 8, unsigned: unsigned)
                pact.clip.value.data[0] = hi
                let dsq = DSQQuantizer(role: .activation, bits: 8, unsigned: unsigned)
                dsq.upper.value.data[0] = hi
                for q in [lsq, pact, dsq] as [any LearnableQuantizer] {
                    #expect(runQuantizer(q, x).y == expected, "\(q.method) unsigned \(unsigned)")
                }
                // DoReFa activations: round(clamp(x, lo, 1)·Q)/Q with x scaled onto that grid.
                let dorefa = DoReFaQuantizer(role: .activation, bits: 8, unsigned: unsigned)
                let q = Float(dorefa.qmax)
                let scaled = x.map { $0 / q }
                let want = scaled.map { (min(max($0, unsigned ? 0 : -1), 1) * q).rounded(.toNearestOrEven) / q }
                #expect(runQuantizer(dorefa, scaled).y == want, "DoReFa unsigned \(unsigned)")
            }
        }
    }

    @Test("DSQ's 8-lane slopes (lane floor, rational tanh) match the scalar Float surrogate soft(): ∂x, ∂u within 1e-5 of the largest; ∂α too for α ≤ 0.6, and for every α no further from the Float64 surrogate than the scalar Float kernel (×1.5 + 1e-6)",
          arguments: [false, true])
    func dsqLaneSlopesMatchSurrogate(signed: Bool) {
        var rng = RNG(seed: signed ? 36 : 37)
        for alpha: Float in [0.01, 0.2, 0.6, 0.9, 0.99] {
            let (lanes, scalar, exact) = dsqSlopes(signed: signed, alpha: alpha, rng: &rng)
            for k in 0..<2 {
                #expect(normalisedError(lanes[k], scalar[k], floor: 1e-12) < 1e-5, "α \(alpha) signed \(signed) slope \(k)")
            }
            // ∂α = (δ/2)(th/(1−α)² + sech²·w·L'/(1−α)): toward α = 1 the two terms nearly cancel (th ≈ L·w,
            // L' ≈ −2), so every float kernel loses digits there; the lanes must lose no more than libm's tanh did.
            if alpha <= 0.6 {
                #expect(normalisedError(lanes[2], scalar[2], floor: 1e-12) < 1e-5, "α \(alpha) signed \(signed) ∂α")
            }
            let laneError = normalisedError(lanes[2], exact[2], floor: 1e-12)
            let scalarError = normalisedError(scalar[2], exact[2], floor: 1e-12)
            #expect(laneError <= 1.5 * scalarError + 1e-6, "α \(alpha): ∂α lanes \(laneError), scalar Float \(scalarError)")
        }
    }

    /// (∂x, ∂u, ∂α) of 4,096 points by the lane kernel, the scalar Float surrogate and the Float64 surrogate;
    /// points within 1e-3 of an interval boundary are left out (Float and Float64 may pick different intervals).
    private func dsqSlopes(signed: Bool, alpha: Float, rng: inout RNG) -> ([[Double]], [[Double]], [[Double]]) {
        let u: Float = 1.7, n = signed ? 14 : 15
        let c = DSQQuantizer.SoftConstants<Float>(u: u, alpha: alpha, intervals: n, signed: signed)
        let delta = Double(u) * (signed ? 2 : 1) / Double(n), l = signed ? -Double(u) : 0
        var lanesOut: [[Double]] = [[], [], []], scalarOut = lanesOut, exactOut = lanesOut
        var kept = 0
        while kept < 4_096 {
            var v = Lanes()
            for k in 0..<8 { v[k] = rng.uniform(signed ? -2.2 : -0.5, 2.2) }
            let d = DSQQuantizer.softSlopes(v, c)
            for k in 0..<8 {
                let r = (Double(v[k]) - l) / delta
                if abs(r - r.rounded()) < 1e-3 { continue }
                kept += 1
                let s = DSQQuantizer.soft(v[k], c)
                let e = DSQQuantizer.soft(Double(v[k]), u: Double(u), alpha: Double(alpha), intervals: n, signed: signed)
                lanesOut[0].append(Double(d.dx[k])); lanesOut[1].append(Double(d.du[k])); lanesOut[2].append(Double(d.dalpha[k]))
                scalarOut[0].append(Double(s.dx)); scalarOut[1].append(Double(s.du)); scalarOut[2].append(Double(s.dalpha))
                exactOut[0].append(e.dx); exactOut[1].append(e.du); exactOut[2].append(e.dalpha)
            }
        }
        return (lanesOut, scalarOut, exactOut)
    }
}
