// The weight side of the DQSS operator with per-output-channel thresholds (`--weight-granularity channel`):
// each branch quantizes W[c, ...] with its own T_c. Oracles: the per-channel FakeQuantHook (values, STE) and
// the θ gradient written out as ⟨G, Q_k(W)⟩; the logit gradient against central differences.

import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch

@Suite("MixedQuantHook with per-channel weight thresholds")
struct MixedQuantHookChannelTests {
    let q = UniformQuantizer(bits: 3)
    // Three candidates, each with its own thresholds for the 4 output channels of a [4, 6] weight.
    let channels: [[Float]] = [[0.5, 1.0, 2.0, 4.0], [0.3, 1.5, 1.0, 3.0], [1.0, 0.6, 2.5, 2.0]]
    var branches: [QuantizerBranch] {
        channels.enumerated().map { QuantizerBranch(name: "c\($0.offset)", quantizer: q, threshold: 99, channelThresholds: $0.element) }
    }

    func weight() -> Tensor {
        var rng = RNG(seed: 5)
        let w = Tensor.normal([4, 6], rng: &rng)
        for i in 0..<w.count { w[i] *= Float(1 + i / 6) }   // wider channels further down
        return w
    }

    @Test("forward is Σ_k θ_k Q_k(W) with Q_k per channel; one-hot θ equals the per-channel FakeQuantHook bit for bit, values and STE gradient")
    func forwardAndOneHot() {
        let w = weight()
        let hook = MixedQuantHook(side: .weight, branches: branches)
        for (k, v) in [Float(0.3), -0.2, 0.7].enumerated() { hook.logits.value[k] = v }
        let theta = hook.theta
        let out = hook.forward(w).copy()
        var expected = [Double](repeating: 0, count: w.count)
        for (c, t) in zip(channels, theta) {
            let yq = FakeQuantHook(quantizer: q, threshold: 99, channelThresholds: c).forward(w).array
            for e in expected.indices { expected[e] += Double(Float(t)) * Double(yq[e]) }
        }
        #expect(zip(out.array, expected).allSatisfy { abs(Double($0) - $1) <= 1e-6 * max(1, abs($1)) })

        var rng = RNG(seed: 6)
        let g = Tensor.normal([4, 6], rng: &rng)
        for k in 0..<3 {
            for j in 0..<3 { hook.logits.value[j] = j == k ? 1e4 : -1e4 }
            let single = FakeQuantHook(quantizer: q, threshold: 99, channelThresholds: channels[k])
            #expect(hook.forward(w).array == single.forward(w).array, "branch \(k)")
            #expect(hook.backward(g).array == single.backward(g).array, "branch \(k) STE")
        }
    }

    @Test("∂L/∂θ_k = ⟨G, Q_k(W)⟩ summed over the channels; ∂L/∂logits matches central differences of L = ⟨G, Ŵ⟩")
    func thetaGradient() {
        let w = weight()
        var rng = RNG(seed: 7)
        let g = Tensor.normal([4, 6], rng: &rng)
        let hook = MixedQuantHook(side: .weight, branches: branches)
        let logits: [Float] = [0.2, -0.1, 0.4]
        for k in 0..<3 { hook.logits.value[k] = logits[k] }
        hook.logits.grad.zero()
        _ = hook.forward(w)
        _ = hook.backward(g)
        for (k, c) in channels.enumerated() {
            let yq = FakeQuantHook(quantizer: q, threshold: 99, channelThresholds: c).forward(w).array
            let dot = zip(yq, g.array).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            // The kernel sums Float products per block (then Double): Float rounding, not Double.
            #expect(abs(hook.lastThetaGradient[k] - dot) <= 1e-5 * max(1, abs(dot)), "θ_\(k)")
        }
        // L(logits) = ⟨G, Ŵ(logits)⟩; Ŵ is linear in θ, so a central difference in Double is exact to rounding.
        func loss(_ l: [Double]) -> Double {
            let th = ArchitectureSoftmax.theta(l, mode: .soft, temperature: 1)
            var s = 0.0
            for (k, c) in channels.enumerated() {
                let yq = FakeQuantHook(quantizer: q, threshold: 99, channelThresholds: c).forward(w).array
                s += th[k] * zip(yq, g.array).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
            return s
        }
        let h = 1e-5
        for k in 0..<3 {
            var up = logits.map(Double.init), down = up
            up[k] += h; down[k] -= h
            let fd = (loss(up) - loss(down)) / (2 * h)
            #expect(abs(Double(hook.logits.grad[k]) - fd) <= 1e-5 * max(1, abs(fd)), "logit \(k): \(hook.logits.grad[k]) vs \(fd)")
        }
    }
}
