// QATNetwork: a network with QAT quantizers installed, as the QAT training loop (QATTrainer) sees it.
// Two implementations: UniformQATModel (one candidate everywhere: `dqss qat --method`) and the DQSS
// mixture QATMixedModel (DQSSSearch, `dqss search --mode qat`).
//
// Placement (§2): every Conv2d/Linear gets an input and a weight quantizer. Bits (§2.2, QAT default): the
// first quantized layer (the first conv) and the last (the classifier) use `firstLastBits` (8 by default;
// `.fp32` leaves them unquantized), every other layer `bits` (4).

import DQSSTensor
import DQSSLayers

/// Bit width of the first and last quantized layers (`--first-last-bits {8,4,fp32}`).
public enum FirstLastBits: Sendable, Equatable {
    case bits(Int)
    case fp32

    /// Parse "8", "4", "fp32".
    public init?(argument: String) {
        if argument.lowercased() == "fp32" { self = .fp32; return }
        guard let b = Int(argument), (2...16).contains(b) else { return nil }
        self = .bits(b)
    }

    public var description: String {
        switch self {
        case .bits(let b): "\(b)"
        case .fp32: "fp32"
        }
    }

    /// Per quantization point: its bit width, or nil (left in FP32). Points are in module order.
    public static func plan(pointCount: Int, bits: Int, firstLast: FirstLastBits) -> [Int?] {
        (0..<pointCount).map { i in
            let edge = i == 0 || i == pointCount - 1
            guard edge else { return bits }
            switch firstLast {
            case .bits(let b): return b
            case .fp32: return nil
            }
        }
    }
}

public protocol QATNetwork: AnyObject {
    var model: any UnaryLayer { get }
    /// The quantized layers (module order), with their bit width.
    var quantizedLayers: [(point: QuantizationPoint, bits: Int)] { get }
    /// Every learnable quantizer parameter, named "<layer>.input_quantizer.<method>.<name>" /
    /// "<layer>.weight_quantizer.<method>.<name>" (network group of §7.2).
    var quantizerParameters: [(name: String, parameter: Parameter)] { get }
    /// α, β ("<layer>.alpha", "<layer>.beta"); empty for a single candidate (architecture group of §7.2).
    var architectureParameters: [(name: String, parameter: Parameter)] { get }
    /// Warm-up observation on/off (§7.3).
    func setObserving(_ on: Bool)
    /// Initialise every weight quantizer from the current W (end of the warm-up: "for weights, the values
    /// are computed from W at the start of QAT", §4).
    func initializeWeightQuantizers()
    /// Re-derive every observed activation quantizer (signedness and data-dependent parameters) from its
    /// current statistics. Needed after the statistics were combined over ranks: the observing forwards
    /// initialised the quantizers from this rank's statistics alone.
    func initializeActivationQuantizers()
    /// Combine every activation observation over the replicas (nil: this replica's own batch).
    func setObservationReducer(_ reducer: (any ObservationReducer)?)
    /// Observed statistics of every hook (activation and weight, layer by layer) — checkpoint state.
    var observedStatistics: [TensorStatistics] { get }
    /// Restore them (and the activation signedness they imply).
    func restoreObservedStatistics(_ s: [TensorStatistics]) throws
    /// Keep every quantizer parameter in its domain (after each optimizer step).
    func projectParameters()
    /// DQSS schedule (QATSearchSchedule): the mixtures' softmax temperature, and whether the network runs
    /// as the derived (winner-take-all) one. A single-candidate network ignores it.
    func setArchitectureSchedule(temperature: Double, derived: Bool)
}

extension QATNetwork {
    public func setArchitectureSchedule(temperature: Double, derived: Bool) {}
}

/// One QAT candidate on every quantized layer (the "uniform" rows of Table 4).
public final class UniformQATModel: QATNetwork {
    public let model: any UnaryLayer
    public let method: QATMethod
    public let quantizedLayers: [(point: QuantizationPoint, bits: Int)]
    public let activationHooks: [QATQuantHook]
    public let weightHooks: [QATQuantHook]

    public init(model: any UnaryLayer, method: QATMethod, bits: Int = 4, firstLast: FirstLastBits = .bits(8),
                options: QATOptions = QATOptions()) {
        self.model = model
        self.method = method
        let points = QuantizedModel.points(of: model)
        let plan = FirstLastBits.plan(pointCount: points.count, bits: bits, firstLast: firstLast)
        var layers: [(point: QuantizationPoint, bits: Int)] = []
        var a: [QATQuantHook] = [], w: [QATQuantHook] = []
        for (p, b) in zip(points, plan) {
            p.layer.inputHook = nil
            p.layer.weightHook = nil
            guard let b else { continue }
            let ah = QATQuantHook(quantizer: method.makeQuantizer(role: .activation, bits: b, options: options))
            let wh = QATQuantHook(quantizer: method.makeQuantizer(role: .weight, bits: b, options: options))
            wh.restoreStatistics(TensorStatistics.of(p.layer.weight.value))
            wh.quantizer.initialize(from: wh.statistics)
            p.layer.inputHook = ah
            p.layer.weightHook = wh
            layers.append((p, b))
            a.append(ah); w.append(wh)
        }
        quantizedLayers = layers
        activationHooks = a
        weightHooks = w
    }

    public var quantizerParameters: [(name: String, parameter: Parameter)] {
        var out: [(name: String, parameter: Parameter)] = []
        for (l, (a, w)) in zip(quantizedLayers, zip(activationHooks, weightHooks)) {
            for p in a.quantizer.parameters {
                out.append((l.point.name + ".input_quantizer.\(a.quantizer.method.rawValue).\(p.name)", p.parameter))
            }
            for p in w.quantizer.parameters {
                out.append((l.point.name + ".weight_quantizer.\(w.quantizer.method.rawValue).\(p.name)", p.parameter))
            }
        }
        return out
    }

    public var architectureParameters: [(name: String, parameter: Parameter)] { [] }

    public func setObserving(_ on: Bool) {
        for h in activationHooks + weightHooks { h.observing = on }
    }

    public func initializeWeightQuantizers() {
        for (l, w) in zip(quantizedLayers, weightHooks) {
            w.restoreStatistics(TensorStatistics.of(l.point.layer.weight.value))
            w.quantizer.initialize(from: w.statistics)
        }
    }

    public func setObservationReducer(_ reducer: (any ObservationReducer)?) {
        for a in activationHooks { a.observationReducer = reducer }
    }

    public func initializeActivationQuantizers() {
        for a in activationHooks where a.statistics.batches > 0 {
            QATQuantHook.initialize([a.quantizer], role: .activation, from: a.statistics)
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
            if s[2 * k].batches > 0 { a.quantizer.isUnsigned = s[2 * k].isNonNegative }
            w.restoreStatistics(s[2 * k + 1])
        }
    }

    public func projectParameters() {
        for h in activationHooks + weightHooks { h.quantizer.projectParameters() }
    }
}

/// Errors of QAT training: messages name the epoch/step/parameter at fault.
public enum QATError: Error, CustomStringConvertible {
    case nonFiniteLoss(epoch: Int, step: Int, value: Float)
    case nonFiniteGradient(epoch: Int, step: Int, parameter: String)
    case stateMismatch(String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(e, s, v):
            "QAT stopped: training loss is \(v) at epoch \(e), step \(s) (try a smaller --lr)"
        case let .nonFiniteGradient(e, s, p):
            "QAT stopped: gradient of \(p) is not finite at epoch \(e), step \(s) (try a smaller --lr)"
        case let .stateMismatch(m):
            "QAT state does not fit this network: \(m)"
        }
    }
}
