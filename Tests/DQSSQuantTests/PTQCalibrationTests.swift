import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant

/// A small CIFAR-like network: conv (signed image input) → BN → ReLU → conv → BN → ReLU → pool → linear.
func tinyNetwork(seed: UInt64) -> Sequential {
    var rng = RNG(seed: seed)
    let net = Sequential([
        Conv2d(3, 6, kernelSize: 3, padding: 1, bias: false, rng: &rng), BatchNorm2d(6), ReLU(),
        Conv2d(6, 6, kernelSize: 3, padding: 1, groups: 3, bias: false, rng: &rng), BatchNorm2d(6), ReLU(),
        GlobalAvgPool2d(), Flatten(), Linear(6, 4, rng: &rng),
    ])
    net.setTraining(false)
    return net
}

func calibrationBatches(seed: UInt64, count: Int = 3, images: Int = 4) -> [Tensor] {
    var rng = RNG(seed: seed)
    return (0..<count).map { _ in Tensor.normal([images, 3, 8, 8], rng: &rng) }
}

@Suite("PTQ calibration pipeline")
struct PTQCalibrationTests {
    @Test("every Conv2d/Linear is a quantization point, in module order")
    func points() {
        let p = QuantizedModel.points(of: tinyNetwork(seed: 1))
        #expect(p.map(\.name) == ["0", "3", "8"])
        #expect(p.map(\.kind) == ["Conv2d", "Conv2d", "Linear"])
    }

    @Test("signedness from the data: image input signed, post-ReLU inputs unsigned; flag forces signed")
    func signedness() {
        let net = tinyNetwork(seed: 2)
        let cal = PTQCalibration(model: net, settings: PTQSettings())
        cal.gather(batches: calibrationBatches(seed: 3), methods: [.maxAbs])
        #expect((0..<3).map { cal.activationUnsigned($0) } == [false, true, true])
        let forced = PTQCalibration(model: net, settings: PTQSettings(signedActivations: true))
        forced.gather(batches: calibrationBatches(seed: 3), methods: [.maxAbs])
        #expect((0..<3).map { forced.activationUnsigned($0) } == [false, false, false])
    }

    @Test("Max_Abs activation thresholds equal max|input| of each layer over all calibration images")
    func maxAbsMatchesDirect() throws {
        let net = tinyNetwork(seed: 4)
        let batches = calibrationBatches(seed: 5)
        let cal = PTQCalibration(model: net, settings: PTQSettings())
        cal.gather(batches: batches, methods: [.maxAbs])
        let a = try cal.assignments(for: .maxAbs)
        // Direct: the input of layer "3" is the output of the first ReLU (index 2).
        var m: Float = 0, mImage: Float = 0
        for b in batches {
            mImage = max(mImage, b.maxAbs())
            var y = b
            for l in net.layers.prefix(3) { y = l.layer.forward(y) }
            m = max(m, y.maxAbs())
        }
        #expect(a[0].thresholds.activation == mImage)
        #expect(a[1].thresholds.activation == m)
        #expect(a[1].thresholds.weight == (net.layers[3].layer as! Conv2d).weight.value.maxAbs())
        #expect(net.layers.compactMap { $0.layer as? Conv2d }.allSatisfy { $0.inputHook == nil })
    }

    @Test("every candidate's thresholds are invariant to the order of calibration batches",
          arguments: PTQMethod.examples)
    func orderInvariance(method: PTQMethod) throws {
        let net = tinyNetwork(seed: 6)
        let batches = calibrationBatches(seed: 7, count: 4)
        func run(_ b: [Tensor]) throws -> [LayerQuantization] {
            let cal = PTQCalibration(model: net, settings: PTQSettings(weightBits: 4, activationBits: 8))
            cal.gather(batches: b, methods: [method])
            return try cal.assignments(for: method)
        }
        #expect(try run(batches) == run(batches.reversed()))
    }

    @Test("W8A8 fake-quant stays close to FP32; removing the hooks restores FP32 bit-for-bit",
          arguments: PTQMethod.examples)
    func quantizedForward(method: PTQMethod) throws {
        let net = tinyNetwork(seed: 8)
        let batches = calibrationBatches(seed: 9)
        let x = calibrationBatches(seed: 10, count: 1)[0]
        let fp32 = net.forward(x).copy()
        let cal = PTQCalibration(model: net, settings: PTQSettings())
        cal.gather(batches: batches, methods: [method])
        let a = try cal.assignments(for: method)
        QuantizedModel.install(cal.points, assignments: a)
        let q = net.forward(x).copy()
        let scale = fp32.maxAbs()
        #expect(q.maxAbsDifference(fp32) < 0.1 * scale, "\(method): \(q.maxAbsDifference(fp32)) vs \(scale)")
        #expect(q.maxAbsDifference(fp32) > 0)
        QuantizedModel.removeHooks(cal.points)
        #expect(net.forward(x).array == fp32.array)
    }
}

@Suite("EQ on convolutions")
struct EasyQuantConvTests {
    @Test("§11.5 on a random conv: score(EQ) ≥ score(T⁰); bias-free input scaling by 2 scales T_a only",
          arguments: [1, 4])
    func randomConv(groups: Int) throws {
        var rng = RNG(seed: 51)
        let conv = Conv2d(4, 8, kernelSize: 3, stride: 1, padding: 1, groups: groups, bias: false, rng: &rng)
        let inputs = (0..<2).map { _ in Tensor.normal([3, 4, 6, 6], rng: &rng) }
        let q = UniformQuantizer(bits: 4)
        let eq = EasyQuantCalibrator()
        func data(_ x: [Tensor]) -> LayerCalibrationData {
            LayerCalibrationData(name: "conv", layer: conv, weightQuantizer: q, activationQuantizer: q,
                                 maxAbs: MaxAbsStatistic(), inputs: x)
        }
        let r = try eq.thresholds(for: data(inputs))
        var hist = AbsHistogram(range: inputs.map { $0.maxAbs() }.max()!)
        for t in inputs { hist.observe(t) }
        let t0 = LayerThresholds(weight: conv.weight.value.maxAbs(), activation: KLDivergence.threshold(hist))
        let s0 = eq.score(layer: conv, inputs: inputs, weightQuantizer: q, activationQuantizer: q, thresholds: t0)
        let s1 = eq.score(layer: conv, inputs: inputs, weightQuantizer: q, activationQuantizer: q, thresholds: r)
        #expect(s1 >= s0)
        let doubled = inputs.map { t -> Tensor in let c = t.copy(); c.scale(by: 2); return c }
        let r2 = try eq.thresholds(for: data(doubled))
        #expect(r2.activation == 2 * r.activation)
        #expect(r2.weight == r.weight)
    }

    @Test("the stacked weight-grid convolution scores like one hooked forward per grid point", arguments: [1, 3])
    func stackedWeightGrid(kernel: Int) {
        var rng = RNG(seed: 52)
        let conv = Conv2d(5, 7, kernelSize: kernel, stride: 1, padding: kernel / 2, bias: true, rng: &rng)
        let inputs = (0..<2).map { _ in Tensor.normal([3, 5, 6, 6], rng: &rng) }
        let q = UniformQuantizer(bits: 4)
        let eq = EasyQuantCalibrator()
        let grid = eq.grid(conv.weight.value.maxAbs()).enumerated().filter { $0.offset % 11 == 0 }.map(\.element)
        let stacked = eq.scores(layer: conv, inputs: inputs, weightQuantizer: q, activationQuantizer: q,
                                weights: grid, activations: [1.5])
        for (t, s) in zip(grid, stacked) {
            let one = eq.score(layer: conv, inputs: inputs, weightQuantizer: q, activationQuantizer: q,
                               thresholds: LayerThresholds(weight: t, activation: 1.5))
            #expect(abs(one - s) < 1e-6, "T_w = \(t): \(s) vs \(one)")
        }
        #expect(conv.inputHook == nil && conv.weightHook == nil)
    }
}
