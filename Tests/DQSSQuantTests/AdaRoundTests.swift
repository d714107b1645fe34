// AdaRound (AdaRound.swift, WeightRounding.swift, AdaRoundCalibrator.swift). Oracles: hand-computed values
// of the rectified sigmoid, the β schedule and the rounding mask; central finite differences of the whole
// objective (the layer's own backward + the relaxation's chain rule + the regulariser); round-to-nearest
// reproduced bit for bit by its mask; and the optimisation lowering the reconstruction error below
// round-to-nearest on its calibration inputs (it fails if the gradient's sign or scale is wrong).

import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant

@Suite("AdaRound")
struct AdaRoundTests {
    @Test("rectified sigmoid h(V): hand values (h(0) = ½, h(ln 3) = 0.8, clipped at 0 and 1) and dh/dV against finite differences")
    func rectifiedSigmoid() {
        #expect(AdaRound.rectifiedSigmoid(0) == 0.5)
        #expect(abs(AdaRound.rectifiedSigmoid(log(3)) - 0.8) < 1e-6)   // σ = ¾: ¾·1.2 − 0.1
        #expect(AdaRound.rectifiedSigmoid(10) == 1)
        #expect(AdaRound.rectifiedSigmoid(-10) == 0)
        #expect(abs(AdaRound.rectifiedSigmoidDerivative(0) - 0.3) < 1e-7)   // ¼ · 1.2
        #expect(AdaRound.rectifiedSigmoidDerivative(10) == 0)                // clipped: no gradient
        for v: Float in [-2, -0.7, 0.3, 1.5, 2.2] {
            let e: Float = 1e-3
            let fd = (AdaRound.rectifiedSigmoid(v + e) - AdaRound.rectifiedSigmoid(v - e)) / (2 * e)
            #expect(abs(fd - AdaRound.rectifiedSigmoidDerivative(v)) < 1e-3, "v \(v)")
        }
    }

    @Test("the initial V puts h(V) at the fractional part of W/s, so the first relaxed weight is W itself")
    func initialLogit() {
        for r: Float in [0, 0.1, 0.5, 0.9, 0.999] {
            #expect(abs(AdaRound.rectifiedSigmoid(AdaRound.initialLogit(rest: r)) - r) < 1e-5, "rest \(r)")
        }
        let w = Tensor(shape: [2, 3], values: [0.33, -0.71, 0.05, 1.2, -2.9, 0.6])
        let relaxed = AdaRoundRelaxation(w, quantizer: UniformQuantizer(bits: 4), thresholds: [1.0, 3.5])
        let out = Tensor(shape: [0])
        relaxed.value(into: out)
        for i in 0..<w.count { #expect(abs(out[i] - w[i]) < 1e-5, "element \(i)") }
    }

    @Test("β: off during the warm start, βstart where it ends, cosine to βend (20 → 11 halfway → 2)")
    func betaSchedule() {
        let s = AdaRoundSettings(iterations: 100)
        #expect(AdaRound.beta(iteration: 0, of: 100, settings: s) == nil)
        #expect(AdaRound.beta(iteration: 19, of: 100, settings: s) == nil)
        #expect(AdaRound.beta(iteration: 20, of: 100, settings: s) == 20)
        #expect(abs(AdaRound.beta(iteration: 60, of: 100, settings: s)! - 11) < 1e-4)   // rel ½: 2 + 9·(1 + cos π/2)
        #expect(abs(AdaRound.beta(iteration: 100, of: 100, settings: s)! - 2) < 1e-4)
    }

    @Test("regulariser 1 − |2h − 1|^β: 1 at h = ½, 0 at 0 and 1, derivative against finite differences")
    func regularizer() {
        #expect(AdaRound.regularizer(h: 0.5, beta: 4).value == 1)
        #expect(AdaRound.regularizer(h: 0, beta: 4).value == 0)
        #expect(AdaRound.regularizer(h: 1, beta: 4).value == 0)
        for (h, b): (Float, Float) in [(0.2, 3), (0.7, 2), (0.9, 8), (0.45, 20)] {
            let e: Float = 1e-3
            let fd = (AdaRound.regularizer(h: h + e, beta: b).value - AdaRound.regularizer(h: h - e, beta: b).value) / (2 * e)
            let dh = AdaRound.regularizer(h: h, beta: b).dh
            #expect(abs(fd - dh) < 2e-2 * max(1, abs(dh)), "h \(h) β \(b): \(fd) vs \(dh)")
        }
    }

    @Test("∂L/∂V of the objective (conv reconstruction through the layer's backward + λ·regulariser) matches central differences, per tensor and per channel")
    func objectiveGradient() {
        for thresholds: [Float] in [[0.4], [0.3, 0.5, 0.25]] {
            var rng = RNG(seed: 11)
            let conv = Conv2d(2, 3, kernelSize: 3, padding: 1, rng: &rng)
            conv.needsInputGradient = false
            let x = Tensor.normal([4, 2, 5, 5], rng: &rng)
            let reference = conv.forward(x).copy()
            let q = UniformQuantizer(bits: 3)
            let relaxed = AdaRoundRelaxation(conv.weight.value, quantizer: q, thresholds: thresholds)
            for i in relaxed.v.indices { relaxed.v[i] = rng.uniform(-1.5, 1.5) }   // h(V) away from 0 and 1
            let hook = AdaRoundRelaxationHook(relaxed)
            conv.weightHook = hook
            let beta: Float = 4, lambda: Float = 0.01
            func loss() -> Double {
                AdaRound.reconstruction(conv.forward(x), reference).loss + relaxed.regularizer(beta: beta, lambda: lambda)
            }
            _ = loss()
            let (_, dy) = AdaRound.reconstruction(conv.forward(x), reference)
            _ = conv.backward(dy)
            var g = [Float](repeating: 0, count: relaxed.v.count)
            relaxed.gradient(reconstruction: hook.weightGradient, beta: beta, lambda: lambda, into: &g)
            let codes = conv.weight.value.array.enumerated().map { i, w -> Float in
                let s = q.scale(threshold: thresholds.count == 1 ? thresholds[0] : thresholds[i / 18])
                return (w / s).rounded(.down) + AdaRound.rectifiedSigmoid(relaxed.v[i])
            }
            var checked = 0
            for i in stride(from: 0, to: relaxed.v.count, by: 5) {
                // Skip elements at the clamp to [q_min, q_max] (a kink there).
                guard codes[i] > Float(q.qmin) + 0.2 && codes[i] < Float(q.qmax) - 0.2 else { continue }
                let e: Float = 1e-2, v = relaxed.v[i]
                relaxed.v[i] = v + e; let up = loss()
                relaxed.v[i] = v - e; let down = loss()
                relaxed.v[i] = v
                let fd = (up - down) / Double(2 * e)
                #expect(abs(fd - Double(g[i])) <= 3e-2 * max(abs(fd), 1e-3), "element \(i): fd \(fd) vs \(g[i]) (thresholds \(thresholds))")
                checked += 1
            }
            #expect(checked >= 5)
        }
    }

    @Test("WeightRounding.nearest reproduces round-to-nearest exactly, per tensor and per channel (ties to even)")
    func nearestMask() {
        var rng = RNG(seed: 3)
        let w = Tensor.normal([4, 12], rng: &rng)
        w[0] = 0.25; w[1] = 0.75; w[2] = -0.25   // exact ties at s = 0.5 (4-bit, T = 3.5)
        let q = UniformQuantizer(bits: 4)
        for thresholds: [Float] in [[3.5], [1, 2, 0.5, 3]] {
            let mask = WeightRounding.nearest(w, quantizer: q, thresholds: thresholds)
            let viaMask = FakeQuantHook(quantizer: q, threshold: thresholds[0], channelThresholds: thresholds.count > 1 ? thresholds : nil,
                                        rounding: mask).forward(w).copy()
            let plain = FakeQuantHook(quantizer: q, threshold: thresholds[0], channelThresholds: thresholds.count > 1 ? thresholds : nil).forward(w)
            // Equal values (the mask path writes +0 where round-to-nearest gives −0 for small negatives).
            #expect(viaMask.array == plain.array, "thresholds \(thresholds)")
            #expect(mask.flips(from: w, quantizer: q, thresholds: thresholds) == 0)
        }
    }

    @Test("a rounding mask in FakeQuantHook: hand values (2-bit, s = 1): ⌊w⌋ + up, clamped to [−1, 1]")
    func maskHandValues() {
        let w = Tensor(shape: [4], values: [0.4, -0.7, 0.2, 3.5])
        let q = UniformQuantizer(bits: 2)
        let up = FakeQuantHook(quantizer: q, threshold: 1, rounding: WeightRounding(up: [1, 0, 0, 1]))
        #expect(up.forward(w).array == [1, -1, 0, 1])
        let down = FakeQuantHook(quantizer: q, threshold: 1, rounding: WeightRounding(up: [0, 1, 1, 0]))
        #expect(down.forward(w).array == [0, 0, 1, 1])
        #expect(WeightRounding(up: [1, 0, 0, 1]).codes(w, quantizer: q, thresholds: [1]) == [1, -1, 0, 1])
    }

    @Test("a mask in a file: bits packed 8 per byte as base64, read back equal; a wrong length is refused")
    func fileRoundTrip() throws {
        let r = WeightRounding(up: [1, 0, 1, 1, 0, 0, 0, 0, 1, 1])
        #expect(r.packed == [0b0000_1101, 0b0000_0011])
        let data = try JSONEncoder().encode(r)
        #expect(try JSONDecoder().decode(WeightRounding.self, from: data) == r)
        let bad = Data(#"{"count": 30, "up": "DQM="}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(WeightRounding.self, from: bad) }
    }

    @Test("the optimisation lowers the layer's reconstruction error below round-to-nearest on its calibration inputs, and restores the layer")
    func learnsBetterRounding() {
        var rng = RNG(seed: 21)
        let layer = Linear(16, 8, rng: &rng)
        // Correlated inputs (a common factor): with i.i.d. inputs the error is Σ δ², which round-to-nearest
        // already minimises; a correlated input lets rounding errors cancel, which is what AdaRound finds.
        let inputs = (0..<4).map { _ -> Tensor in
            let x = Tensor.normal([64, 16], rng: &rng)
            for n in 0..<64 {
                let common = rng.normal()
                for j in 0..<16 { x[n * 16 + j] = common + 0.3 * x[n * 16 + j] }
            }
            return x
        }
        let weightBefore = layer.weight.value.array
        let q = UniformQuantizer(bits: 3)
        let t = layer.weight.value.array.map(abs).max()!
        let (rounding, report) = AdaRound.learn(layer: layer, inputs: inputs, quantizer: q, thresholds: [t],
                                                settings: AdaRoundSettings(iterations: 2000, batch: 32, learningRate: 1e-2))
        #expect(rounding.count == layer.weight.value.count)
        #expect(report.flips > 0)
        #expect(report.learnedLoss < 0.8 * report.nearestLoss, "learned \(report.learnedLoss) vs nearest \(report.nearestLoss)")
        // Over all inputs too, not only the report's batch.
        func error(_ r: WeightRounding) -> Double {
            layer.weightHook = FakeQuantHook(quantizer: q, threshold: t, rounding: r)
            defer { layer.weightHook = nil }
            return inputs.reduce(0.0) { acc, x in
                let y = layer.forward(x).copy()
                layer.weightHook = nil
                let ref = layer.forward(x)
                layer.weightHook = FakeQuantHook(quantizer: q, threshold: t, rounding: r)
                return acc + AdaRound.reconstruction(y, ref).loss
            }
        }
        let nearest = WeightRounding.nearest(layer.weight.value, quantizer: q, thresholds: [t])
        #expect(error(rounding) < error(nearest))
        #expect(layer.weightHook == nil && layer.inputHook == nil)
        #expect(layer.weight.requiresGrad && layer.weight.value.array == weightBefore)
    }

    @Test("the patch-Gram path learns what the direct path learns (same batches: same losses, same rounding), per tensor and per channel, with groups and stride; automatic picks it for a wide-plane conv and not for a Linear")
    func patchGramPathMatchesDirect() {
        let cases: [(groups: Int, stride: Int, thresholds: [Float])] = [(1, 1, [0.4]), (2, 2, [0.3, 0.5, 0.25, 0.35])]
        for c in cases {
            var rng = RNG(seed: 31)
            let conv = Conv2d(4, 4, kernelSize: 3, stride: c.stride, padding: 1, groups: c.groups, rng: &rng)
            let inputs = (0..<2).map { _ in Tensor.normal([10, 4, 6, 6], rng: &rng) }
            let q = UniformQuantizer(bits: 3)
            let settings = AdaRoundSettings(iterations: 300, batch: 8, learningRate: 1e-2)
            let (a, ra) = AdaRound.learn(layer: conv, inputs: inputs, quantizer: q, thresholds: c.thresholds,
                                         settings: settings, path: .direct)
            let (b, rb) = AdaRound.learn(layer: conv, inputs: inputs, quantizer: q, thresholds: c.thresholds,
                                         settings: settings, path: .patchGram)
            #expect(!ra.patchGram && rb.patchGram)
            #expect(a == b, "\(c): \(zip(a.up, b.up).filter { $0 != $1 }.count) of \(a.count) weights differ")
            #expect(ra.flips > 0)
            #expect(abs(ra.learnedLoss - rb.learnedLoss) <= 1e-4 * ra.learnedLoss + 1e-9, "\(c): \(ra.learnedLoss) vs \(rb.learnedLoss)")
            #expect(ra.nearestLoss == rb.nearestLoss)
        }
        var rng = RNG(seed: 32)
        let wide = Conv2d(8, 8, kernelSize: 3, padding: 1, rng: &rng)
        let short = AdaRoundSettings(iterations: 2, batch: 4)
        let (_, r1) = AdaRound.learn(layer: wide, inputs: [Tensor.normal([4, 8, 16, 16], rng: &rng)], quantizer: UniformQuantizer(bits: 4),
                                     thresholds: [0.3], settings: short)
        #expect(r1.patchGram)
        let linear = Linear(16, 4, rng: &rng)
        let (_, r2) = AdaRound.learn(layer: linear, inputs: [Tensor.normal([4, 16], rng: &rng)], quantizer: UniformQuantizer(bits: 4),
                                     thresholds: [0.3], settings: short)
        #expect(!r2.patchGram)
    }

    @Test("adaround[:B] names: default base MSE, labels, round trip; AdaRound of AdaRound and unknown bases refused")
    func names() throws {
        #expect(PTQMethod(named: "adaround") == .adaRound(.mse))
        #expect(PTQMethod(named: "AdaRound") == .adaRound(.mse))
        #expect(PTQMethod(named: "adaround:eq") == .adaRound(.easyQuant))
        #expect(PTQMethod(named: "AdaRound(EQ)") == .adaRound(.easyQuant))
        #expect(PTQMethod(named: "adaround:percentile:99.9") == .adaRound(.percentile(99.9)))
        #expect(PTQMethod.adaRound(.mse).rawValue == "adaround")
        #expect(PTQMethod.adaRound(.maxAbs).rawValue == "adaround:maxabs")
        #expect(PTQMethod.adaRound(.maxAbs).paperName == "AdaRound(Max_Abs)")
        for m in [PTQMethod.adaRound(.mse), .adaRound(.kl), .adaRound(.percentile(99.99))] {
            #expect(PTQMethod(named: m.rawValue) == m)
            #expect(PTQMethod(named: m.paperName) == m)
        }
        #expect(throws: PTQMethodError.badAdaRoundBase("adaround:adaround")) { try PTQMethod.parse("adaround:adaround") }
        #expect(throws: PTQMethodError.badAdaRoundBase("adaround:foo")) { try PTQMethod.parse("adaround:foo") }
    }

    @Test("PTQCalibration with adaround: the base's thresholds (per tensor and per channel) plus a mask per weight")
    func calibration() throws {
        var rng = RNG(seed: 8)
        let model = Sequential([Conv2d(3, 5, kernelSize: 3, padding: 1, rng: &rng), ReLU(), Flatten(), Linear(5 * 4 * 4, 3, rng: &rng)])
        let batches = [Tensor.normal([8, 3, 4, 4], rng: &rng)]
        for granularity in WeightGranularity.allCases {
            var settings = PTQSettings(weightBits: 4, activationBits: 8, weightGranularity: granularity)
            settings.adaRound.iterations = 50
            let calibration = PTQCalibration(model: model, settings: settings)
            calibration.gather(batches: batches, methods: [.mse, .adaRound(.mse)])
            let base = try calibration.assignments(for: .mse)
            let ada = try calibration.assignments(for: .adaRound(.mse))
            for (b, a) in zip(base, ada) {
                #expect(a.thresholds.activation == b.thresholds.activation)
                #expect(a.thresholds.weight == b.thresholds.weight)
                #expect(a.thresholds.weightChannels == b.thresholds.weightChannels)
                #expect(b.thresholds.weightRounding == nil)
            }
            #expect(ada.map { $0.thresholds.weightRounding?.count } == [5 * 3 * 9, 3 * 80])
        }
    }
}
