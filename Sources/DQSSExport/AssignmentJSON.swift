// AssignmentJSON: `dqss export --format json` — the exported assignment with, per quantized layer, the
// strategy, threshold T, scale s = T/q_max, bit width, signedness, integer range and ONNX tensor names of
// both quantizers (per-channel weights: every channel's threshold and scale too; AdaRound weights: the
// learned rounding mask). Meant for other deployment
// tools (scales as decimal and as float32 hex bit patterns).

import Foundation
import DQSSFormats
import DQSSQuant

public struct AssignmentJSON: Encodable {
    public struct Tensor: Encodable {
        var strategy: String?
        var threshold: Float
        var scale: Float
        /// float32 bit pattern of `scale`, lowercase hex (the TensorRT cache encoding).
        var scaleHex: String
        var bits: Int
        var signed: Bool
        var qmin: Int
        var qmax: Int
        var onnxType: String
        /// The ONNX tensor this quantizer reads.
        var tensor: String
        /// Per output channel (per-channel weights; per-axis QDQ on axis 0): T_c, s_c = T_c / q_max.
        var channelThresholds: [Float]?
        var channelScales: [Float]?
        /// AdaRound (weights): code = clamp(⌊W/s⌋ + up, q_min, q_max) instead of round-to-nearest, the
        /// mask as {"count", "up": base64 bits, element i in bit i mod 8 of byte i / 8}.
        var rounding: WeightRounding?
        init(_ q: TensorQuantization, tensor: String) {
            rounding = q.rounding
            channelThresholds = q.channelThresholds
            channelScales = q.channelScales
            strategy = q.strategy
            threshold = q.threshold
            scale = q.scale
            scaleHex = TensorRTCalibrationCache.hex(q.scale)
            bits = q.bits
            signed = !q.isUnsigned
            qmin = q.qmin
            qmax = q.qmax
            onnxType = q.onnxType
            self.tensor = tensor
        }
    }

    public struct Layer: Encodable {
        var name: String
        var activation: Tensor
        var weight: Tensor
    }

    public struct Norm: Encodable { var mean: [Float]; var std: [Float] }

    /// "dqss-export" (a checkpoint's own JSON is "dqss-assignment": α, β and winners, without ONNX names).
    var format = "dqss-export"
    var version = 1
    var model: String
    var weights: String?
    var origin: String
    /// "input": normalised images (x = (byte/255 − mean)/std), NCHW float32.
    var input: String
    var normalization: Norm
    var layers: [Layer]

    public init(model: String, weights: String?, origin: String, mean: [Float], std: [Float],
                points: [ExportedQuantizationPoint]) throws {
        self.model = model
        self.weights = weights
        self.origin = origin
        input = "input"
        normalization = Norm(mean: mean, std: std)
        layers = try points.map { p in
            guard let q = p.quantization else { throw ExportError("json: layer \(p.layer) is not quantized") }
            return Layer(name: p.layer, activation: Tensor(q.activation, tensor: p.inputTensor),
                         weight: Tensor(q.weight, tensor: p.layer + ".weight"))
        }
    }

    /// The document, indented (snake_case keys by DQSSFormats' JSONCoding).
    public func encoded() throws -> Data { try jsonData(pretty: true) }
}
