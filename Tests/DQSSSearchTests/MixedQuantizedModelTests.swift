import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch
import _TestSupport

/// Two convs + BN + ReLU + pool + linear: the network of the whole-model checks.
final class SmallNet: UnaryLayer {
    let body: Sequential
    var isTraining = false
    var children: [(name: String, layer: any Layer)] { body.children }
    init(rng: inout RNG) {
        body = Sequential(named: [
            ("conv1", Conv2d(3, 6, kernelSize: 3, padding: 1, bias: false, rng: &rng)),
            ("bn1", BatchNorm2d(6)), ("relu1", ReLU()),
            ("conv2", Conv2d(6, 8, kernelSize: 3, stride: 2, padding: 1, bias: false, rng: &rng)),
            ("bn2", BatchNorm2d(8)), ("relu2", ReLU()),
            ("pool", GlobalAvgPool2d()), ("flatten", Flatten()),
            ("fc", Linear(8, 5, rng: &rng)),
        ])
    }
    func forward(_ x: Tensor) -> Tensor { body.forward(x) }
    func backward(_ g: Tensor) -> Tensor { body.backward(g) }
}

/// Candidate thresholds: candidate c scales each layer's max|input| / max|W| by `scales[c]`.
func syntheticCandidates(model: any UnaryLayer, input: Tensor, bits: Int,
                         scales: [Float] = [1.0, 0.6, 0.8, 1.2]) -> [(name: String, layers: [LayerQuantization])] {
    let points = QuantizedModel.points(of: model)
    let observers = points.map { _ in CalibrationObserver(storesInputs: false) }
    for (p, o) in zip(points, observers) { p.layer.inputHook = o }
    _ = model.forward(input)
    QuantizedModel.removeHooks(points)
    let names = ["Max_Abs", "KL", "EQ", "ADMM"]
    return scales.enumerated().map { c, s in
        (name: names[c], layers: zip(points, observers).map { p, o in
            LayerQuantization(name: p.name, weightBits: bits, activationBits: bits,
                              activationUnsigned: o.isNonNegative,
                              thresholds: LayerThresholds(weight: s * p.layer.weight.value.maxAbs(),
                                                          activation: s * o.maxAbs.maxAbs))
        })
    }
}

@Suite("MixedQuantizedModel")
struct MixedQuantizedModelTests {
    func makeNet(seed: UInt64 = 31, batch: Int = 3) -> (SmallNet, Tensor) {
        var rng = RNG(seed: seed)
        let net = SmallNet(rng: &rng)
        // Non-trivial BN statistics (eval mode, PTQ).
        for (name, t) in net.namedBuffers() {
            if name.hasSuffix("running_mean") { t.fillUniform(-0.2, 0.2, rng: &rng) }
            if name.hasSuffix("running_var") { t.fillUniform(0.5, 1.5, rng: &rng) }
        }
        net.setTraining(false)
        return (net, Tensor.normal([batch, 3, 8, 8], rng: &rng))
    }

    @Test("install: hooks on every Conv2d/Linear, named α/β parameters, weights frozen, θ = 0.25")
    func install() throws {
        let (net, x) = makeNet()
        let cands = syntheticCandidates(model: net, input: x, bits: 8)
        let mixed = try MixedQuantizedModel(model: net, candidates: cands)
        #expect(mixed.architectureParameters.map(\.name) == ["conv1.alpha", "conv1.beta", "conv2.alpha", "conv2.beta",
                                                             "fc.alpha", "fc.beta"])
        #expect(net.namedParameters().allSatisfy { !$0.parameter.requiresGrad })
        #expect(mixed.activationHooks.allSatisfy { $0.theta == [0.25, 0.25, 0.25, 0.25] })
        #expect(mixed.candidateNames == ["Max_Abs", "KL", "EQ", "ADMM"])
        // conv2's input follows a ReLU: unsigned branches; conv1's input (the image) signed.
        #expect(mixed.activationHooks[1].branches.allSatisfy { $0.isUnsigned })
        #expect(!mixed.activationHooks[0].branches[0].isUnsigned)
        mixed.remove()
        #expect(QuantizedModel.points(of: net).allSatisfy { $0.layer.inputHook == nil && $0.layer.weightHook == nil })
    }

    @Test("mismatched candidate tables are thrown errors naming the candidate and layer")
    func mismatches() {
        let (net, x) = makeNet()
        var cands = syntheticCandidates(model: net, input: x, bits: 8)
        cands[2].layers.removeLast()
        #expect(throws: SearchError.self) { try MixedQuantizedModel(model: net, candidates: cands) }
        cands = syntheticCandidates(model: net, input: x, bits: 8)
        cands[1].layers[1].name = "bogus"
        do {
            _ = try MixedQuantizedModel(model: net, candidates: cands)
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("bogus") && "\(error)".contains("KL"))
        }
    }

    @Test("whole network (conv-BN-ReLU ×2, pool, linear): ∂L/∂α, ∂L/∂β of every layer match central differences")
    func networkFiniteDifferences() throws {
        // Why 16-bit candidates with clipping thresholds 0.25–1.0 of max|x|: L is piecewise constant in
        // an upstream layer's logits (downstream quantizers round), so finite differences can only check
        // the clipped-STE chain when the rounding steps are tiny; distinct clipping makes the branches
        // differ. The remaining non-smoothness (ReLU/clip kinks, 16-bit steps) and the Float32 forward
        // limit agreement to about 2–5 %: errors are normalised by the largest logit gradient of the
        // network, and a directional derivative over all logits at once is checked as well.
        var worst = 0.0, worstDirectional = 0.0
        for seed in [UInt64(4), 5, 6] {
            let (net, x) = makeNet(batch: 32)
            let cands = syntheticCandidates(model: net, input: x, bits: 16, scales: [1.0, 0.25, 0.5, 0.75])
            let mixed = try MixedQuantizedModel(model: net, candidates: cands)
            var rng = RNG(seed: seed)
            let params = mixed.architectureParameters
            for (_, p) in params { p.value.fillUniform(-1, 1, rng: &rng) }
            let g = Tensor.uniform(net.forward(x).shape, -1, 1, rng: &rng)
            func loss() -> Double { net.forward(x).dot(g) }
            _ = net.forward(x)
            mixed.zeroArchitectureGradients()
            _ = net.backward(g)
            let h: Float = 0.05
            var analytic: [Double] = [], numeric: [Double] = []
            for (name, p) in params {
                let a = doubles(p.grad)
                #expect(abs(a.reduce(0, +)) < 1e-5 * max(1e-3, a.map(abs).max()!), "\(name): Σ ∂L/∂logit")
                #expect(p.grad.maxAbs() > 0, "\(name) receives gradient")
                analytic += a
                numeric += (0..<p.value.count).map { k -> Double in
                    let old = p.value.data[k]
                    p.value.data[k] = old + h
                    let lp = loss()
                    p.value.data[k] = old - h
                    let lm = loss()
                    p.value.data[k] = old
                    return (lp - lm) / Double(2 * h)
                }
            }
            let e = normalisedError(analytic, numeric)
            worst = max(worst, e)
            #expect(e < 5e-2, "seed \(seed): analytic \(analytic) numeric \(numeric)")
            // Directional derivative along a random direction v of all logits.
            let v = analytic.map { _ in Double(rng.uniform(-1, 1)) }
            func shift(_ t: Double) {
                var i = 0
                for (_, p) in params { for k in 0..<p.value.count { p.value.data[k] += Float(t * v[i]); i += 1 } }
            }
            let saved = params.map { $0.parameter.value.copy() }
            shift(Double(h)); let lp = loss()
            for (p, s) in zip(params, saved) { p.parameter.value.assign(s) }
            shift(-Double(h)); let lm = loss()
            for (p, s) in zip(params, saved) { p.parameter.value.assign(s) }
            let dirNumeric = (lp - lm) / Double(2 * h), dirAnalytic = dot(analytic, v)
            // Normalised by Σ|a_i v_i| (the directional derivative itself may nearly cancel).
            let de = abs(dirNumeric - dirAnalytic) / zip(analytic, v).reduce(0) { $0 + abs($1.0 * $1.1) }
            worstDirectional = max(worstDirectional, de)
            #expect(de < 3e-2, "seed \(seed): directional \(dirAnalytic) vs \(dirNumeric)")
        }
        print("network finite differences: worst normalised error \(worst), directional \(worstDirectional)")
    }

    @Test("SGD steps on α, β keep θ ≥ 0 summing to 1; derivation is the argmax per layer and side; assignment is Codable")
    func searchStepsAndDerivation() throws {
        let (net, x) = makeNet()
        let cands = syntheticCandidates(model: net, input: x, bits: 8)
        let mixed = try MixedQuantizedModel(model: net, candidates: cands)
        let sgd = SGD(groups: [ParameterGroup(name: "architecture", parameters: mixed.architectureParameters.map(\.parameter), lr: 0.5,
                                              momentum: 0.9, weightDecay: 0)])
        let labels = [0, 3, 1]
        let ce = SoftmaxCrossEntropy()
        var rng = RNG(seed: 2)
        for (_, p) in mixed.architectureParameters { p.value.fillUniform(-0.1, 0.1, rng: &rng) }
        for _ in 0..<5 {
            mixed.zeroArchitectureGradients()
            _ = ce.forward(logits: net.forward(x), labels: labels)
            _ = net.backward(ce.backward())
            sgd.step()
            for h in mixed.activationHooks + mixed.weightHooks {
                let t = h.theta
                #expect(t.allSatisfy { $0 >= 0 } && abs(t.reduce(0, +) - 1) < 1e-12)
            }
        }
        let a = mixed.assignment()
        for (l, (ah, wh)) in zip(a.layers, zip(mixed.activationHooks, mixed.weightHooks)) {
            #expect(l.activation == ArchitectureSoftmax.argmax(ah.logits.value.array))
            #expect(l.weight == ArchitectureSoftmax.argmax(wh.logits.value.array))
            #expect(l.activationThreshold == ah.branches[l.activation].threshold)
        }
        #expect(a.activationCounts.reduce(0, +) == 3 && a.weightCounts.reduce(0, +) == 3)
        let data = try JSONEncoder().encode(a)
        let decoded = try JSONDecoder().decode(StrategyAssignment.self, from: data)
        #expect(decoded == a)

        // The derived network (winner-take-all hooks) equals plain FakeQuantHooks with the derived thresholds.
        mixed.setMode(.winnerTakeAll)
        let yMixed = net.forward(x).copy()
        mixed.remove()
        QuantizedModel.install(QuantizedModel.points(of: net), assignments: mixed.derivedQuantization())
        #expect(net.forward(x).array.map(\.bitPattern) == yMixed.array.map(\.bitPattern))
    }

    @Test("the derived network keeps the winning weight branch's per-channel thresholds and AdaRound rounding: it is the candidate table's network of the same choice, and its forward is the winner-take-all mixture's bit for bit")
    func derivedKeepsChannelsAndRounding() throws {
        let (net, x) = makeNet()
        var cands = syntheticCandidates(model: net, input: x, bits: 3)
        // KL and EQ per output channel (a share of each channel's max|W|), EQ's weights with a rounding mask.
        var rng = RNG(seed: 5)
        for c in 1...2 {
            for (l, p) in QuantizedModel.points(of: net).enumerated() {
                let w = p.layer.weight.value, rows = w.shape[0], per = w.count / rows
                cands[c].layers[l].thresholds.weightChannels = (0..<rows).map { r in
                    (0..<per).reduce(Float(0)) { max($0, abs(w.data[r * per + $1])) } * (0.5 + 0.1 * Float(c))
                }
                if c == 2 { cands[c].layers[l].thresholds.weightRounding = WeightRounding(up: (0..<w.count).map { _ in UInt8(rng.int(below: 2)) }) }
            }
        }
        let mixed = try MixedQuantizedModel(model: net, candidates: cands)
        // Weights: EQ (channels + rounding), KL (channels), EQ; activations: Max_Abs, ADMM, KL.
        for (l, (a, w)) in [(0, 2), (3, 1), (1, 2)].enumerated() {
            mixed.activationHooks[l].logits.value.data[a] = 3
            mixed.weightHooks[l].logits.value.data[w] = 3
        }
        let derived = mixed.derivedQuantization()
        let table = CandidateTable(names: cands.map(\.name), layers: cands.map(\.layers))
        #expect(derived == table.quantization(StrategyChoice(mixed.assignment())))
        #expect(derived[0].thresholds.weightRounding != nil && derived[1].thresholds.weightChannels != nil)
        mixed.setMode(.winnerTakeAll)
        let yMixed = net.forward(x).copy()
        mixed.remove()
        QuantizedModel.install(QuantizedModel.points(of: net), assignments: derived)
        #expect(net.forward(x).array.map(\.bitPattern) == yMixed.array.map(\.bitPattern))
        QuantizedModel.removeHooks(QuantizedModel.points(of: net))
    }
}
