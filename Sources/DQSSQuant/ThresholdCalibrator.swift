// ThresholdCalibrator: one PTQ candidate of ALGORITHMS.md §3, as a function returning the thresholds
// (T_w, T_a) of one quantized layer from that layer's calibration data.
//
// The calibration pipeline gathers, per quantized layer and in as few FP32 passes as the requested
// candidates need, the statistics listed in `requirements` (pass 1: max|A| and, when asked, the stored
// inputs / sample; pass 2: the |A| histogram over the range found in pass 1). Each candidate then reads
// what it needs. Statistics are mergeable (see CalibrationStatistics.swift), so ranks of a distributed
// run can combine them before any threshold is computed.

import DQSSTensor
import DQSSLayers

/// What a candidate needs from the calibration passes.
public struct StatisticRequirements: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// max|A| over the calibration set (one pass).
    public static let maxAbs = StatisticRequirements(rawValue: 1)
    /// 2048-bin |A| histogram over [0, max|A|] (second pass).
    public static let histogram = StatisticRequirements(rawValue: 2)
    /// Every value of A (ADMM).
    public static let sample = StatisticRequirements(rawValue: 4)
    /// The FP32 input of the layer for each calibration image, as batches (EQ).
    public static let inputs = StatisticRequirements(rawValue: 8)
}

/// Everything known about one quantized layer when its thresholds are computed.
public struct LayerCalibrationData {
    /// Dotted layer name ("layer1.0.conv1").
    public let name: String
    /// The layer itself (its weight, and its forward for EQ). Hooks are managed by the calibrator.
    public let layer: any HookableLayer
    public let weightQuantizer: UniformQuantizer
    public let activationQuantizer: UniformQuantizer
    public var maxAbs: MaxAbsStatistic
    public var histogram: AbsHistogram?
    public var sample: ActivationSample?
    /// FP32 inputs, batch by batch in calibration order (leading dimension = images).
    public var inputs: [Tensor]

    public init(name: String, layer: any HookableLayer, weightQuantizer: UniformQuantizer,
                activationQuantizer: UniformQuantizer, maxAbs: MaxAbsStatistic,
                histogram: AbsHistogram? = nil, sample: ActivationSample? = nil, inputs: [Tensor] = []) {
        self.name = name
        self.layer = layer
        self.weightQuantizer = weightQuantizer
        self.activationQuantizer = activationQuantizer
        self.maxAbs = maxAbs
        self.histogram = histogram
        self.sample = sample
        self.inputs = inputs
    }
}

/// The thresholds chosen for one layer.
public struct LayerThresholds: Sendable, Codable, Equatable {
    /// T_w of the whole tensor (per-channel runs keep the candidate's per-tensor choice here, for reference).
    public var weight: Float
    public var activation: Float
    /// T_w of every output channel (`--weight-granularity channel`); nil: per tensor, `weight` is used.
    public var weightChannels: [Float]?
    /// A learned rounding direction per weight (AdaRound); nil: round to nearest.
    public var weightRounding: WeightRounding?
    public init(weight: Float, activation: Float, weightChannels: [Float]? = nil, weightRounding: WeightRounding? = nil) {
        self.weight = weight
        self.activation = activation
        self.weightChannels = weightChannels
        self.weightRounding = weightRounding
    }

    /// The weight thresholds as applied: one per output channel, or the per-tensor one.
    public var appliedWeightThresholds: [Float] { weightChannels ?? [weight] }
}

public enum CalibrationError: Error, CustomStringConvertible {
    case missingStatistic(layer: String, method: String, what: String)
    public var description: String {
        switch self {
        case let .missingStatistic(layer, method, what):
            "calibrator \(method) needs the \(what) of layer '\(layer)', which was not gathered"
        }
    }
}

/// One PTQ candidate.
public protocol ThresholdCalibrator: Sendable {
    var method: PTQMethod { get }
    var requirements: StatisticRequirements { get }
    /// (T_w, T_a) for one layer.
    func thresholds(for data: LayerCalibrationData) throws -> LayerThresholds
    /// T_w of every output channel (`--weight-granularity channel`), given this candidate's per-tensor result.
    func channelWeightThresholds(for data: LayerCalibrationData, tensor: LayerThresholds) throws -> [Float]
    /// The last step, once the weight thresholds are final (per tensor or per channel): AdaRound learns
    /// its rounding here. Every other candidate returns `thresholds` unchanged.
    func finish(_ thresholds: LayerThresholds, for data: LayerCalibrationData,
                progress: ((String) -> Void)?) throws -> LayerThresholds
}

extension ThresholdCalibrator {
    public func finish(_ thresholds: LayerThresholds, for data: LayerCalibrationData,
                       progress: ((String) -> Void)?) throws -> LayerThresholds { thresholds }
}
