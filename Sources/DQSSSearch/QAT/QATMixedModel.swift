// QATMixedModel: DQSS in QAT (ALGORITHMS.md §7) on a whole network — a QATMixedQuantHook with the N QAT
// candidates [DoReFa, DSQ, LSQ, PACT] on the input (α) and on the weight (β) of every quantized layer, all
// weight branches reading the layer's one trainable W (Eq. 11). Bits per layer as §2.2 (first/last layer
// at `firstLast`, still mixed). Nothing is frozen: W, BN, the candidates' parameters and α/β all train in
// the single pass of §7.2 (QATTrainer). Derivation (§7.4): winner-take-all per side (`setMode(.winnerTakeAll)`
// turns the network into the derived one: each hook then runs only its argmax candidate with θ = 1).

import DQSSTensor
import DQSSLayers
import DQSSQuant

public final class QATMixedModel: QATNetwork {
    public let model: any UnaryLayer
    public let methods: [QATMethod]
    public let quantizedLayers: [(point: QuantizationPoint, bits: Int)]
    public let activationHooks: [QATMixedQuantHook]
    public let weightHooks: [QATMixedQuantHook]

    public init(model: any UnaryLayer, methods: [QATMethod] = QATMethod.allCases, bits: Int = 4,
                firstLast: FirstLastBits = .bits(8), options: QATOptions = QATOptions(), initialLogit: Float = 0.1) {
        precondition(!methods.isEmpty, "DQSS needs at least one candidate")
        self.model = model
        self.methods = methods
        let points = QuantizedModel.points(of: model)
        let plan = FirstLastBits.plan(pointCount: points.count, bits: bits, firstLast: firstLast)
        var layers: [(point: QuantizationPoint, bits: Int)] = []
        var a: [QATMixedQuantHook] = [], w: [QATMixedQuantHook] = []
        for (p, b) in zip(points, plan) {
            p.layer.inputHook = nil
            p.layer.weightHook = nil
            guard let b else { continue }
            let ah = QATMixedQuantHook(side: .activation, branches: methods.map {
                $0.makeQuantizer(role: .activation, bits: b, options: options)
            }, initialLogit: initialLogit)
            let wh = QATMixedQuantHook(side: .weight, branches: methods.map {
                $0.makeQuantizer(role: .weight, bits: b, options: options)
            }, initialLogit: initialLogit)
            p.layer.inputHook = ah
            p.layer.weightHook = wh
            layers.append((p, b))
            a.append(ah); w.append(wh)
        }
        quantizedLayers = layers
        activationHooks = a
        weightHooks = w
        initializeWeightQuantizers()
    }

    public var quantizerParameters: [(name: String, parameter: Parameter)] {
        var out: [(name: String, parameter: Parameter)] = []
        for (l, (a, w)) in zip(quantizedLayers, zip(activationHooks, weightHooks)) {
            out += a.quantizerParameters.map { (l.point.name + ".input_quantizer." + $0.name, $0.parameter) }
            out += w.quantizerParameters.map { (l.point.name + ".weight_quantizer." + $0.name, $0.parameter) }
        }
        return out
    }

    public var architectureParameters: [(name: String, parameter: Parameter)] {
        zip(quantizedLayers, zip(activationHooks, weightHooks)).flatMap { l, hw in
            [(name: l.point.name + ".alpha", parameter: hw.0.logits), (name: l.point.name + ".beta", parameter: hw.1.logits)]
        }
    }

    private var allHooks: [QATMixedQuantHook] { activationHooks + weightHooks }

    public func setObserving(_ on: Bool) { for h in allHooks { h.observing = on } }

    public func initializeWeightQuantizers() {
        for (l, w) in zip(quantizedLayers, weightHooks) {
            let s = TensorStatistics.of(l.point.layer.weight.value)
            w.restoreStatistics(s)
            for b in w.branches { b.initialize(from: s) }
        }
    }

    public func setObservationReducer(_ reducer: (any ObservationReducer)?) {
        for a in activationHooks { a.observationReducer = reducer }
    }

    public func initializeActivationQuantizers() {
        for a in activationHooks where a.statistics.batches > 0 {
            QATQuantHook.initialize(a.branches, role: .activation, from: a.statistics)
        }
    }

    public var observedStatistics: [TensorStatistics] {
        zip(activationHooks, weightHooks).flatMap { [$0.statistics, $1.statistics] }
    }

    public func restoreObservedStatistics(_ s: [TensorStatistics]) throws {
        guard s.count == 2 * activationHooks.count else {
            throw QATError.stateMismatch("\(s.count) observed statistics for \(2 * activationHooks.count) quantizers")
        }
        for (k, (a, w)) in zip(activationHooks, weightHooks).enumerated() {
            a.restoreStatistics(s[2 * k])
            if s[2 * k].batches > 0 { for b in a.branches { b.isUnsigned = s[2 * k].isNonNegative } }
            w.restoreStatistics(s[2 * k + 1])
        }
    }

    public func projectParameters() { for h in allHooks { for b in h.branches { b.projectParameters() } } }

    public func setArchitectureSchedule(temperature: Double, derived: Bool) {
        for h in allHooks {
            h.temperature = temperature
            h.mode = derived ? .winnerTakeAll : .soft
        }
    }

    /// Per layer and side, top minus second θ at the hooks' current temperature (soft θ): how decisive each
    /// choice of `assignment()` is. 1 = one-hot, near 0 = a tie the argmax decides by rounding.
    public func thetaMargins() -> [(activation: Double, weight: Double)] {
        func margin(_ h: QATMixedQuantHook) -> Double {
            let t = ArchitectureSoftmax.theta(h.logitValues, mode: .soft, temperature: h.temperature).sorted(by: >)
            return t.count > 1 ? t[0] - t[1] : 1
        }
        return zip(activationHooks, weightHooks).map { (margin($0), margin($1)) }
    }

    /// `.soft` (training, the soft-mixture accuracy), `.winnerTakeAll` (the derived DQSS network), `.uniform`.
    public func setMode(_ mode: MixingMode) { for h in allHooks { h.mode = mode } }

    /// Winner-take-all assignment (Eq. 6, ties -> lowest index) with the winners' current thresholds.
    public func assignment() -> StrategyAssignment {
        StrategyAssignment(candidates: methods.map(\.paperName), layers: zip(quantizedLayers, zip(activationHooks, weightHooks)).map { l, hw in
            let (a, w) = hw
            let i = a.winner, j = w.winner
            return LayerStrategy(name: l.point.name, activation: i, weight: j,
                                 activationCandidate: methods[i].paperName, weightCandidate: methods[j].paperName,
                                 activationThreshold: a.branches[i].effectiveThreshold,
                                 weightThreshold: w.branches[j].effectiveThreshold,
                                 alpha: a.logits.value.array, beta: w.logits.value.array)
        })
    }
}
