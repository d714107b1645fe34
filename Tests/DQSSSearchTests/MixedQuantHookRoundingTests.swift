// The weight side of the DQSS operator with an AdaRound branch (a rounding mask per weight): the mixture
// is computed branch by branch (RoundedMixture). Oracles: the FakeQuantHook with the same mask and
// thresholds (one-hot θ: equal values and STE gradient), the mixture written out as Σ θ_k Q_k(W), and
// ∂L/∂θ_k = ⟨G, Q_k(W)⟩.

import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch

@Suite("MixedQuantHook with an AdaRound branch")
struct MixedQuantHookRoundingTests {
    let q = UniformQuantizer(bits: 3)

    func weight() -> Tensor {
        var rng = RNG(seed: 9)
        return Tensor.normal([4, 6], rng: &rng)
    }

    /// Max_Abs-like nearest branch, a masked branch per tensor, a masked branch per channel.
    func branches(_ w: Tensor) -> [QuantizerBranch] {
        var rng = RNG(seed: 10)
        let mask = WeightRounding(up: (0..<w.count).map { _ in UInt8(rng.int(below: 2)) })
        let channels: [Float] = [0.8, 1.2, 2.0, 1.5]
        return [QuantizerBranch(name: "nearest", quantizer: q, threshold: 2.0, channelThresholds: [2, 2, 2, 2]),
                QuantizerBranch(name: "ada", quantizer: q, threshold: 2.0, channelThresholds: [2, 2, 2, 2], rounding: mask),
                QuantizerBranch(name: "ada-ch", quantizer: q, threshold: 9, channelThresholds: channels, rounding: mask)]
    }

    func single(_ b: QuantizerBranch) -> FakeQuantHook {
        FakeQuantHook(quantizer: q, threshold: b.threshold, channelThresholds: b.channelThresholds, rounding: b.rounding)
    }

    @Test("forward is Σ_k θ_k Q_k(W) with each branch's mask; one-hot θ equals that branch's FakeQuantHook, values and STE")
    func forwardAndOneHot() {
        let w = weight(), bs = branches(w)
        let hook = MixedQuantHook(side: .weight, branches: bs)
        for (k, v) in [Float(0.2), 0.5, -0.4].enumerated() { hook.logits.value[k] = v }
        let theta = hook.theta
        let out = hook.forward(w).copy()
        var expected = [Double](repeating: 0, count: w.count)
        for (b, t) in zip(bs, theta) {
            let yq = single(b).forward(w).array
            for e in expected.indices { expected[e] += Double(Float(t)) * Double(yq[e]) }
        }
        #expect(zip(out.array, expected).allSatisfy { abs(Double($0) - $1) <= 1e-6 * max(1, abs($1)) })
        // The masked branches differ from round-to-nearest (else this test would not see the mask).
        #expect(single(bs[1]).forward(w).array != single(bs[0]).forward(w).array)

        var rng = RNG(seed: 6)
        let g = Tensor.normal([4, 6], rng: &rng)
        for k in 0..<3 {
            for j in 0..<3 { hook.logits.value[j] = j == k ? 1e4 : -1e4 }
            let one = single(bs[k])
            #expect(hook.forward(w).array == one.forward(w).array, "branch \(k)")
            #expect(hook.backward(g).array == one.backward(g).array, "branch \(k) STE")
        }
    }

    @Test("∂L/∂θ_k = ⟨G, Q_k(W)⟩ with the mask applied, for every branch")
    func thetaGradient() {
        let w = weight(), bs = branches(w)
        let hook = MixedQuantHook(side: .weight, branches: bs)
        var rng = RNG(seed: 12)
        let g = Tensor.normal([4, 6], rng: &rng)
        _ = hook.forward(w)
        _ = hook.backward(g)
        for (k, b) in bs.enumerated() {
            let yq = single(b).forward(w).array
            let dot = zip(g.array, yq).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            #expect(abs(hook.lastThetaGradient[k] - dot) <= 1e-5 * max(1, abs(dot)), "branch \(k)")
        }
    }
}
