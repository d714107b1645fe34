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
public final class UniformQATModel: QATHookedNetwork {
    public let model: any UnaryLayer
    public let method: QATMethod
    public let quantizedLayers: [(point: QuantizationPoint, bits: Int)]
    public let activationHooks: [QATQuantHook]
    public let weightHooks: [QATQuantHook]

    public init(model: any UnaryLayer, method: QATMethod, bits: Int = 4, firstLast: FirstLastBits = .bits(8),
                options: QATOptions = QATOptions()) {
        self.model = model
        self.method = method
        (quantizedLayers, activationHooks, weightHooks) = Self.installHooks(on: model, bits: bits, firstLast: firstLast) {
            QATQuantHook(quantizer: method.makeQuantizer(role: $0, bits: $1, options: options))
        }
        initializeWeightQuantizers()
    }

    public var architectureParameters: [(name: String, parameter: Parameter)] { [] }
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
