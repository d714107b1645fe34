// QATHookedNetwork: what the two QAT networks share — one candidate everywhere (UniformQATModel) and the
// DQSS mixture (QATMixedModel, DQSSSearch) — written once: the hooks on the quantized layers (§2, §2.2),
// the warm-up observation (§7.3), the weight/activation initialisation, the checkpointed statistics, the
// parameter names and their projection. A network differs only in the hook it installs.

import DQSSTensor
import DQSSLayers

/// A QAT hook on one side of a layer: its quantizer(s) and the statistics observed during the warm-up.
public protocol QATObservingHook: TensorHook, AnyObject {
    /// The quantizers this hook runs: one for a single candidate, the N branches of a mixture.
    var quantizers: [any LearnableQuantizer] { get }
    var observing: Bool { get set }
    var observationReducer: (any ObservationReducer)? { get set }
    var statistics: TensorStatistics { get }
    func restoreStatistics(_ s: TensorStatistics)
}

extension QATQuantHook: QATObservingHook {
    public var quantizers: [any LearnableQuantizer] { [quantizer] }
}

public protocol QATHookedNetwork: QATNetwork {
    associatedtype Hook: QATObservingHook
    var activationHooks: [Hook] { get }
    var weightHooks: [Hook] { get }
}

extension QATHookedNetwork {
    /// Install an input and a weight hook (made by `makeHook(side, bits)`) on every quantized point of
    /// `model`, bits per §2.2; points left in FP32 get no hook (and lose any hook they had).
    public static func installHooks(on model: any UnaryLayer, bits: Int, firstLast: FirstLastBits,
                                    makeHook: (QuantizerRole, Int) -> Hook)
        -> (layers: [(point: QuantizationPoint, bits: Int)], activation: [Hook], weight: [Hook]) {
        let points = QuantizedModel.points(of: model)
        let plan = FirstLastBits.plan(pointCount: points.count, bits: bits, firstLast: firstLast)
        var layers: [(point: QuantizationPoint, bits: Int)] = []
        var a: [Hook] = [], w: [Hook] = []
        for (p, b) in zip(points, plan) {
            p.layer.inputHook = nil
            p.layer.weightHook = nil
            guard let b else { continue }
            let ah = makeHook(.activation, b), wh = makeHook(.weight, b)
            p.layer.inputHook = ah
            p.layer.weightHook = wh
            layers.append((p, b))
            a.append(ah); w.append(wh)
        }
        return (layers, a, w)
    }

    private var allHooks: [Hook] { activationHooks + weightHooks }

    /// "<layer>.input_quantizer.<method>.<name>" / "<layer>.weight_quantizer.<method>.<name>".
    public var quantizerParameters: [(name: String, parameter: Parameter)] {
        var out: [(name: String, parameter: Parameter)] = []
        for (l, (a, w)) in zip(quantizedLayers, zip(activationHooks, weightHooks)) {
            for (side, h) in [("input_quantizer", a), ("weight_quantizer", w)] {
                for q in h.quantizers {
                    out += q.parameters.map { (l.point.name + ".\(side).\(q.method.rawValue).\($0.name)", $0.parameter) }
                }
            }
        }
        return out
    }

    public func setObserving(_ on: Bool) { for h in allHooks { h.observing = on } }

    public func initializeWeightQuantizers() {
        for (l, w) in zip(quantizedLayers, weightHooks) {
            let s = TensorStatistics.of(l.point.layer.weight.value)
            w.restoreStatistics(s)
            for q in w.quantizers { q.initialize(from: s) }
        }
    }

    public func setObservationReducer(_ reducer: (any ObservationReducer)?) {
        for a in activationHooks { a.observationReducer = reducer }
    }

    public func initializeActivationQuantizers() {
        for a in activationHooks where a.statistics.batches > 0 {
            QATQuantHook.initialize(a.quantizers, role: .activation, from: a.statistics)
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
            if s[2 * k].batches > 0 { for q in a.quantizers { q.isUnsigned = s[2 * k].isNonNegative } }
            w.restoreStatistics(s[2 * k + 1])
        }
    }

    public func projectParameters() { for h in allHooks { for q in h.quantizers { q.projectParameters() } } }
}
