// Per-output-channel weight thresholds (`--weight-granularity channel`, WeightGranularity.swift): the
// fake quantizer by hand, each calibrator's rule on each slice, and EQ's per-channel search against a
// brute-force oracle that computes every channel's output of a Linear layer directly.

import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant

@Suite("Per-channel weight thresholds")
struct WeightGranularityTests {
    @Test("FakeQuantHook with channel thresholds: hand-computed 2-bit values and clipped STE, slice by slice")
    func fakeQuantPerChannel() {
        // 2-bit signed: q_max = 1, s = T. Channel 0 (T = 1): 0.4 -> 0, -0.7 -> -1. Channel 1 (T = 2):
        // 1.2 -> round(0.6) = 1 -> 2; 3.5 -> round(1.75) = 2, clamped to 1 -> 2.
        let hook = FakeQuantHook(quantizer: UniformQuantizer(bits: 2), threshold: 100, channelThresholds: [1, 2])
        let w = Tensor(shape: [2, 2], values: [0.4, -0.7, 1.2, 3.5])
        #expect(hook.forward(w).array == [0, -1, 2, 2])
        // STE: passed where |x| ≤ T_c: everything but 3.5 (> 2).
        let g = hook.backward(Tensor(shape: [2, 2], values: [1, 2, 3, 4]))
        #expect(g.array == [1, 2, 3, 0])
        // Without channel thresholds the one threshold (100 -> s = 100) maps all four to 0.
        hook.channelThresholds = nil
        #expect(hook.forward(w).array == [0, 0, 0, 0])
    }

    @Test("every weight-only candidate applies its per-tensor rule to each output channel's slice",
          arguments: [PTQMethod.maxAbs, .kl, .mse, .percentile(99.9), .admm])
    func rulePerSlice(method: PTQMethod) throws {
        var rng = RNG(seed: 7)
        let layer = Conv2d(3, 4, kernelSize: 3, padding: 1, rng: &rng)
        // Channels with very different ranges, so a per-tensor threshold would not fit them all.
        let w = layer.weight.value, per = w.count / 4
        for c in 0..<4 { for i in 0..<per { w[c * per + i] *= Float(1 << (2 * c)) } }
        let calibrator = try #require(PTQSettings().calibrator(method) as? any WeightThresholdCalibrator)
        let q = UniformQuantizer(bits: 4)
        let got = calibrator.channelWeightThresholds(w, quantizer: q)
        let expected = (0..<4).map { c -> Float in
            let slice = Tensor(shape: [1, 3, 3, 3], values: Array(w.array[c * per ..< (c + 1) * per]))
            return calibrator.weightThreshold(slice, quantizer: q)
        }
        #expect(got == expected)
        #expect(Set(got).count == 4, "\(got)")   // four different ranges, four thresholds
        if method == .maxAbs {
            #expect(got == (0..<4).map { c in w.array[c * per ..< (c + 1) * per].map(abs).max()! })
        }
    }

    @Test("PTQCalibration with .channel fills weight_channels (one per output channel) and keeps activations per tensor")
    func calibrationFillsChannels() throws {
        var rng = RNG(seed: 8)
        let model = Sequential([Conv2d(3, 5, kernelSize: 3, padding: 1, rng: &rng), ReLU(), Flatten(), Linear(5 * 4 * 4, 3, rng: &rng)])
        let batches = [Tensor.normal([4, 3, 4, 4], rng: &rng)]
        for granularity in WeightGranularity.allCases {
            let calibration = PTQCalibration(model: model, settings: PTQSettings(weightBits: 4, activationBits: 8,
                                                                                   weightGranularity: granularity))
            calibration.gather(batches: batches, methods: [.maxAbs, .easyQuant])
            for m in [PTQMethod.maxAbs, .easyQuant] {
                let layers = try calibration.assignments(for: m)
                #expect(layers.map { $0.thresholds.weightChannels?.count } == (granularity == .channel ? [5, 3] : [nil, nil]))
            }
        }
    }

    @Test("EQ per channel: each channel's T_c maximises the cosine of that channel's outputs over its grid (brute-force oracle on a Linear)")
    func easyQuantPerChannel() throws {
        var rng = RNG(seed: 9)
        let layer = Linear(12, 3, bias: true, rng: &rng)
        let inputs = (0..<2).map { _ in Tensor.normal([5, 12], rng: &rng) }
        let wq = UniformQuantizer(bits: 3), aq = UniformQuantizer(bits: 8)
        let eq = EasyQuantCalibrator()
        let data = LayerCalibrationData(name: "fc", layer: layer, weightQuantizer: wq, activationQuantizer: aq,
                                        maxAbs: MaxAbsStatistic(), inputs: inputs)
        let ta: Float = 2.5
        let got = try eq.channelWeightThresholds(for: data, activation: ta)
        #expect(layer.inputHook == nil && layer.weightHook == nil)   // hooks restored
        let w = layer.weight.value.array, b = layer.bias!.value.array
        for c in 0..<3 {
            let row = Array(w[c * 12 ..< (c + 1) * 12])
            let grid = eq.grid(row.map(abs).max()!)
            // y_c = Σ_i w_ci x_i + b_c in Double, FP32 and with Q(W_c; t), Q(x; T_a).
            func cosine(_ t: Float) -> Double {
                var uv = 0.0, uu = 0.0, vv = 0.0
                let qw = wq.fakeQuantized(Tensor(shape: [12], values: row), threshold: t).array.map(Double.init)
                for x in inputs {
                    let qx = aq.fakeQuantized(x, threshold: ta)
                    for n in 0..<5 {
                        var y = Double(b[c]), yq = Double(b[c])
                        for i in 0..<12 {
                            let xv = x[n * 12 + i]
                            y += Double(row[i]) * Double(xv)
                            yq += qw[i] * Double(qx[n * 12 + i])
                        }
                        uv += y * yq; uu += y * y; vv += yq * yq
                    }
                }
                return uv / (uu * vv).squareRoot()
            }
            let scores = grid.map(cosine)
            let best = scores.max()!
            let k = try #require(grid.firstIndex(of: got[c]), "T_\(c) = \(got[c]) is not on its grid")
            // The chosen point is the best to float tolerance (the layer sums in Float, the oracle in Double).
            #expect(scores[k] >= best - 1e-6, "channel \(c): chose \(got[c]) (\(scores[k])), best \(best)")
        }
        // At 3 bits the channels do not all keep T⁰ = max|W_c|.
        #expect((0..<3).contains { c in got[c] != w[c * 12 ..< (c + 1) * 12].map(abs).max()! }, "\(got)")
    }
}
