// QATMixedModel: DQSS in QAT (ALGORITHMS.md §7) on a whole network — a QATMixedQuantHook with the N QAT
// candidates [DoReFa, DSQ, LSQ, PACT] on the input (α) and on the weight (β) of every quantized layer, all
// weight branches reading the layer's one trainable W (Eq. 11). Bits per layer as §2.2 (first/last layer
// at `firstLast`, still mixed). Nothing is frozen: W, BN, the candidates' parameters and α/β all train in
// the single pass of §7.2 (QATTrainer). Derivation (§7.4): winner-take-all per side (`setMode(.winnerTakeAll)`
// turns the network into the derived one: each hook then runs only its argmax candidate with θ = 1).

import DQSSTensor
import DQSSLayers
import DQSSQuant

public final class QATMixedModel: QATHookedNetwork {
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
        (quantizedLayers, activationHooks, weightHooks) = Self.installHooks(on: model, bits: bits, firstLast: firstLast) { side, b in
            QATMixedQuantHook(side: side, branches: methods.map { $0.makeQuantizer(role: side, bits: b, options: options) },
                              initialLogit: initialLogit)
        }
        initializeWeightQuantizers()
    }

    public var architectureParameters: [(name: String, parameter: Parameter)] {
        zip(quantizedLayers, zip(activationHooks, weightHooks)).flatMap { l, hw in
            [(name: l.point.name + ".alpha", parameter: hw.0.logits), (name: l.point.name + ".beta", parameter: hw.1.logits)]
        }
    }

    private var allHooks: [QATMixedQuantHook] { activationHooks + weightHooks }

    public func setArchitectureSchedule(temperature: Double, derived: Bool) {
        for h in allHooks {
            h.temperature = temperature
            h.mode = derived ? .winnerTakeAll : .soft
        }
    }

    /// Per layer and side, top minus second θ at the hooks' current temperature (soft θ): how decisive each
    /// choice of `assignment()` is. 1 = one-hot, near 0 = a tie the argmax decides by rounding.
    public func thetaMargins() -> [(activation: Double, weight: Double)] {
        zip(activationHooks, weightHooks).map { ($0.thetaMargin, $1.thetaMargin) }
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
