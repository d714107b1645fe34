// MixedQuantizedModel: DQSS operators on every quantized layer of a network (ALGORITHMS.md §2, §5, §6
// steps 3 and 5).
//
// Every Conv2d/Linear (QuantizedModel.points: first conv and classifier included, §2.2) gets a
// MixedQuantHook with N activation branches on its input (logits "<layer>.alpha") and one with N weight
// branches on its weight ("<layer>.beta"). Branch k of a layer uses candidate k's thresholds for that
// layer (T_a on the activation side, T_w on the weight side; EQ's pair is split, branches are
// independent, §6 step 2). In PTQ mode every model parameter is frozen (requiresGrad = false) and the
// weight hooks skip ∂L/∂W, so a backward only produces the α, β gradients (and ∂L/∂A for earlier layers).

import DQSSTensor
import DQSSLayers
import DQSSQuant

public final class MixedQuantizedModel {
    public let points: [QuantizationPoint]
    /// Candidate labels in branch order.
    public let candidateNames: [String]
    public let activationHooks: [MixedQuantHook]
    public let weightHooks: [MixedQuantHook]

    /// - Parameters:
    ///   - candidates: one array per candidate (in branch order), each with one LayerQuantization per
    ///     quantized layer of `model` in module order — what `PTQCalibration.assignments(for:)` returns.
    ///   - freezeWeights: PTQ (§6 step 1): freeze every model parameter, skip ∂L/∂W.
    public init(model: any Layer, candidates: [(name: String, layers: [LayerQuantization])],
                freezeWeights: Bool = true, initialLogit: Float = 0.1) throws {
        guard let first = candidates.first else { throw SearchError.noCandidates }
        let points = QuantizedModel.points(of: model)
        for c in candidates {
            guard c.layers.count == points.count else {
                throw SearchError.candidateLayerCount(candidate: c.name, got: c.layers.count, expected: points.count)
            }
            for (i, (l, p)) in zip(c.layers, points).enumerated() where l.name != p.name {
                throw SearchError.candidateLayerName(candidate: c.name, index: i, got: l.name, expected: p.name)
            }
        }
        var aHooks: [MixedQuantHook] = [], wHooks: [MixedQuantHook] = []
        for (i, p) in points.enumerated() {
            let ref = first.layers[i]
            for c in candidates {
                let l = c.layers[i]
                if l.activationBits != ref.activationBits || l.activationUnsigned != ref.activationUnsigned {
                    throw SearchError.candidateSettings(layer: p.name, candidate: c.name, what: "activation quantizer")
                }
                if l.weightBits != ref.weightBits {
                    throw SearchError.candidateSettings(layer: p.name, candidate: c.name, what: "weight bit width")
                }
            }
            let a = MixedQuantHook(side: .activation, branches: candidates.map {
                QuantizerBranch(name: $0.name, quantizer: $0.layers[i].activationQuantizer,
                                threshold: $0.layers[i].thresholds.activation)
            }, initialLogit: initialLogit)
            let w = MixedQuantHook(side: .weight, branches: candidates.map {
                QuantizerBranch(name: $0.name, quantizer: $0.layers[i].weightQuantizer,
                                threshold: $0.layers[i].thresholds.weight,
                                channelThresholds: $0.layers[i].thresholds.weightChannels,
                                rounding: $0.layers[i].thresholds.weightRounding)
            }, initialLogit: initialLogit)
            w.needsInputGradient = !freezeWeights
            p.layer.inputHook = a
            p.layer.weightHook = w
            aHooks.append(a)
            wHooks.append(w)
        }
        if freezeWeights {
            for p in model.namedParameters() { p.parameter.requiresGrad = false }
        }
        self.points = points
        self.candidateNames = candidates.map(\.name)
        self.activationHooks = aHooks
        self.weightHooks = wHooks
    }

    /// The PTQ candidates of `PTQCalibration` (default: all four in the fixed order Max_Abs, KL, EQ, ADMM).
    public convenience init(model: any Layer, ptq: [PTQMethod: [LayerQuantization]],
                            methods: [PTQMethod] = PTQMethod.paperCandidates, freezeWeights: Bool = true) throws {
        try self.init(model: model, candidates: try methods.map { m in
            guard let l = ptq[m] else {
                throw SearchError.candidateLayerCount(candidate: m.paperName, got: 0, expected: -1)
            }
            return (name: m.paperName, layers: l)
        }, freezeWeights: freezeWeights)
    }

    var allHooks: [MixedQuantHook] { activationHooks + weightHooks }

    /// Every α and β with its name ("<layer>.alpha", "<layer>.beta"), layer by layer in module order.
    public var architectureParameters: [(name: String, parameter: Parameter)] {
        var out: [(name: String, parameter: Parameter)] = []
        for (p, (a, w)) in zip(points, zip(activationHooks, weightHooks)) {
            out.append((p.name + ".alpha", a.logits))
            out.append((p.name + ".beta", w.logits))
        }
        return out
    }

    /// Mixing mode of every hook: `.soft` (search), `.winnerTakeAll` (derived network), `.uniform` (DQSS-None).
    public func setMode(_ mode: MixingMode) { for h in allHooks { h.mode = mode } }

    /// Softmax temperature τ of every hook.
    public func setTemperature(_ tau: Double) { for h in allHooks { h.temperature = tau } }

    /// Zero every α, β gradient.
    public func zeroArchitectureGradients() { for h in allHooks { h.logits.grad.zero() } }

    /// Winner-take-all assignment (Eq. 6) from the current logits.
    public func assignment() -> StrategyAssignment {
        StrategyAssignment(candidates: candidateNames, layers: zip(points, zip(activationHooks, weightHooks)).map { p, hw in
            let (a, w) = hw
            let i = a.winner, j = w.winner
            return LayerStrategy(name: p.name, activation: i, weight: j,
                                 activationCandidate: a.branches[i].name, weightCandidate: w.branches[j].name,
                                 activationThreshold: a.branches[i].threshold, weightThreshold: w.branches[j].threshold,
                                 alpha: a.logits.value.array, beta: w.logits.value.array)
        })
    }

    /// The derived network's per-layer quantization (plain §1 quantizers, for QuantizedModel.install).
    public func derivedQuantization() -> [LayerQuantization] {
        zip(points, zip(activationHooks, weightHooks)).map { p, hw in
            let (a, w) = hw
            let ab = a.branches[a.winner], wb = w.branches[w.winner]
            return LayerQuantization(name: p.name, weightBits: wb.bits, activationBits: ab.bits,
                                     activationUnsigned: ab.isUnsigned,
                                     thresholds: LayerThresholds(weight: wb.threshold, activation: ab.threshold,
                                                                 weightChannels: wb.channelThresholds, weightRounding: wb.rounding))
        }
    }

    /// Remove the hooks (back to the FP32 network; parameters stay frozen if they were).
    public func remove() { QuantizedModel.removeHooks(points) }
}
