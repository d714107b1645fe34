import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant

/// ALGORITHMS.md §11.5 oracles. Linear layers here; Conv2d variants live beside the conv layer tests.
@Suite("EQ (EasyQuant) calibration")
struct EasyQuantCalibratorTests {
    let wq = UniformQuantizer(bits: 8)
    let aq = UniformQuantizer(bits: 8)

    func batches(_ rng: inout RNG, _ count: Int = 3, images: Int = 4, features: Int = 24) -> [Tensor] {
        (0..<count).map { _ in Tensor.normal([images, features], rng: &rng) }
    }

    @Test("grid: 100 points from 0.5 T⁰ to 2 T⁰, point 33 is T⁰ exactly")
    func grid() {
        let g = EasyQuantCalibrator().grid(1.7)
        #expect(g.count == 100)
        #expect(g[33] == 1.7)
        #expect(abs(g[0] - 0.85) < 1e-6 && abs(g[99] - 3.4) < 1e-6)
    }

    @Test("§11.5: score(EQ result) ≥ score(T_w⁰, T_a⁰) on a random layer", arguments: [8, 4])
    func improvesOnInit(bits: Int) throws {
        var rng = RNG(seed: 31)
        let layer = Linear(24, 10, rng: &rng)
        let inputs = batches(&rng)
        let q = UniformQuantizer(bits: bits)
        let eq = EasyQuantCalibrator()
        let data = LayerCalibrationData(name: "fc", layer: layer, weightQuantizer: q, activationQuantizer: q,
                                        maxAbs: MaxAbsStatistic(), inputs: inputs)
        let result = try eq.thresholds(for: data)
        var h = MaxAbsStatistic(); for t in inputs { h.observe(t) }
        var hist = AbsHistogram(range: h.maxAbs); for t in inputs { hist.observe(t) }
        let initial = LayerThresholds(weight: layer.weight.value.maxAbs(), activation: KLDivergence.threshold(hist))
        let s0 = eq.score(layer: layer, inputs: inputs, weightQuantizer: q, activationQuantizer: q, thresholds: initial)
        let s1 = eq.score(layer: layer, inputs: inputs, weightQuantizer: q, activationQuantizer: q, thresholds: result)
        #expect(s1 >= s0, "EQ \(s1) < init \(s0)")
        #expect(layer.inputHook == nil && layer.weightHook == nil)  // hooks restored
    }

    @Test("§11.5: an output reproduced exactly at T⁰ gives score 1 and keeps T⁰")
    func exactAtInit() {
        var rng = RNG(seed: 32)
        let layer = Linear(16, 6, bias: true, rng: &rng)
        // Weights on the 127-level grid of T_w⁰ = 127/64 with max|W| = T_w⁰.
        let w = layer.weight.value
        for i in 0..<w.count { w[i] = Float(rng.int(below: 255) - 127) / 64 }
        w[0] = 127.0 / 64
        // Activations: integer multiples of T_a⁰/127 = 1/16 inside the range.
        let inputs = (0..<2).map { _ in
            Tensor(shape: [3, 16], values: (0..<48).map { _ in Float(rng.int(below: 255) - 127) / 16 })
        }
        let t0 = LayerThresholds(weight: 127.0 / 64, activation: 127.0 / 16)
        let eq = EasyQuantCalibrator()
        let result = eq.search(layer: layer, inputs: inputs, weightQuantizer: wq, activationQuantizer: aq, initial: t0)
        #expect(result == t0)
        #expect(eq.score(layer: layer, inputs: inputs, weightQuantizer: wq, activationQuantizer: aq,
                         thresholds: result) == 1)
    }

    @Test("§11.5: scaling the input of a bias-free layer by 2^k scales T_a by 2^k and keeps T_w",
          arguments: [Float(4), 0.5])
    func scaleInvariance(c: Float) throws {
        var rng = RNG(seed: 33)
        let layer = Linear(24, 8, bias: false, rng: &rng)
        let inputs = batches(&rng)
        let scaled = inputs.map { t -> Tensor in let s = t.copy(); s.scale(by: c); return s }
        let eq = EasyQuantCalibrator()
        func run(_ x: [Tensor]) throws -> LayerThresholds {
            try eq.thresholds(for: LayerCalibrationData(name: "fc", layer: layer, weightQuantizer: wq,
                                                        activationQuantizer: aq, maxAbs: MaxAbsStatistic(),
                                                        inputs: x))
        }
        let a = try run(inputs), b = try run(scaled)
        #expect(b.activation == c * a.activation)
        #expect(b.weight == a.weight)
    }

    @Test("thresholds do not depend on the order of the calibration batches")
    func orderInvariance() throws {
        var rng = RNG(seed: 34)
        let layer = Linear(24, 8, rng: &rng)
        let inputs = batches(&rng, 4)
        let eq = EasyQuantCalibrator()
        func run(_ x: [Tensor]) throws -> LayerThresholds {
            try eq.thresholds(for: LayerCalibrationData(name: "fc", layer: layer, weightQuantizer: wq,
                                                        activationQuantizer: aq, maxAbs: MaxAbsStatistic(),
                                                        inputs: x))
        }
        #expect(try run(inputs) == run(inputs.reversed()))
    }
}
