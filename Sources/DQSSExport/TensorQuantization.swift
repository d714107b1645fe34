// TensorQuantization: the quantizer of ALGORITHMS.md §1 for one tensor of an exported network (a layer's
// input activation or its weight), as a deployment runtime sees it.
//
//     q_max = 2^(b − 1 + u) − 1,  q_min = u ? 0 : −q_max,  s = T / q_max,  x̂ = s · clamp(round(x / s), q_min, q_max)
//
// ONNX QuantizeLinear computes clamp(round_half_even(x / s) + zp, type range) with zero point 0 here:
// the same rounding as §1.3 (half to even) and the same per-tensor scale, so the one difference is the
// saturation range of the integer type:
//   uint8 [0, 255]     = the unsigned 8-bit range of §1.1 exactly;
//   int8 [−128, 127]   ≠ the narrow signed range [−127, 127]: values below −127.5·s give −128·s in ONNX
//                         and −127·s in dqss. Weights are made exact by clamping the stored FP32 weight to
//                         [−127·s, 127·s] (no extra node); signed activations get a Clip(−127·s, 127·s)
//                         node before QuantizeLinear (`ONNXExportOptions.exactNarrowRange`, default on;
//                         off = the bare Q/DQ pattern, which changed 3 of 932 ShuffleNetV2 predictions).
//   b < 8 bits          are emulated on the int8/uint8 grid with a Clip to [q_min·s, q_max·s] (exact in
//                         value; the runtime still computes in 8 bits). ONNX int4 (opset 21) is not used.

import DQSSQuant

public struct TensorQuantization: Sendable, Equatable, Codable {
    public var bits: Int
    public var isUnsigned: Bool
    /// T (the clipping value chosen by the strategy).
    public var threshold: Float
    /// The candidate that produced T ("KL", "Max_Abs", ...), when known.
    public var strategy: String?
    /// T per output channel (weights, `--weight-granularity channel`): exported as per-axis QDQ (axis 0,
    /// one scale per channel, opset 13); nil: `threshold` for the whole tensor.
    public var channelThresholds: [Float]?
    /// AdaRound's rounding directions (weights): the exported weight is s·clamp(⌊W/s⌋ + up, q_min, q_max),
    /// already on the grid, so QuantizeLinear gives exactly the learned integers. nil: round to nearest.
    public var rounding: WeightRounding?

    public init(bits: Int, isUnsigned: Bool, threshold: Float, strategy: String? = nil, channelThresholds: [Float]? = nil,
                rounding: WeightRounding? = nil) {
        self.rounding = rounding
        self.bits = bits
        self.isUnsigned = isUnsigned
        self.threshold = threshold
        self.strategy = strategy
        self.channelThresholds = channelThresholds
    }

    public var quantizer: UniformQuantizer { UniformQuantizer(bits: bits, unsigned: isUnsigned) }
    public var qmax: Int { quantizer.qmax }
    public var qmin: Int { quantizer.qmin }
    /// s = T / q_max (float32, exactly as dqss computes it).
    public var scale: Float { quantizer.scale(threshold: threshold) }
    /// s_c = T_c / q_max per channel (nil: per tensor).
    public var channelScales: [Float]? { channelThresholds?.map { quantizer.scale(threshold: $0) } }

    /// The ONNX integer type carrying the codes: uint8 for unsigned, int8 for signed.
    public var onnxType: String { isUnsigned ? "uint8" : "int8" }
    /// Saturation range of `onnxType`.
    public var typeRange: ClosedRange<Int> { isUnsigned ? 0...255 : -128...127 }
    /// True when the type's saturation equals [q_min, q_max] (only unsigned 8-bit).
    public var typeRangeIsExact: Bool { typeRange == qmin...qmax }

    /// Refuses what cannot be written as an int8/uint8 QuantizeLinear with zero point 0.
    public func validate(tensor: String) throws {
        guard (2...8).contains(bits) else {
            throw ExportError("\(tensor): \(bits)-bit quantizer cannot be exported (int8/uint8 QDQ carries 2 to 8 bits)")
        }
        for (c, t) in (channelThresholds ?? [threshold]).enumerated() {
            let what = channelThresholds == nil ? tensor : "\(tensor) channel \(c)"
            guard t.isFinite else { throw ExportError("\(what): threshold \(t) is not finite") }
            guard !UniformQuantizer.isDegenerate(t) else {
                // dqss maps such a tensor to all zeros (§1.1 guard); a QuantizeLinear with scale 1 would not.
                throw ExportError("\(what): threshold \(t) ≤ 2^-24 (an all-zero tensor in dqss) has no QDQ form")
            }
        }
    }
}

/// The two quantizers of one Conv2d/Linear (§2.1).
public struct LayerExportQuantization: Sendable, Equatable {
    /// Dotted PyTorch name of the layer ("layer1.0.conv1").
    public var name: String
    public var activation: TensorQuantization
    public var weight: TensorQuantization

    public init(name: String, activation: TensorQuantization, weight: TensorQuantization) {
        self.name = name
        self.activation = activation
        self.weight = weight
    }

    /// From dqss's own per-layer record (`dqss ptq --save-thresholds`), with the strategy names.
    public init(_ q: LayerQuantization, activationStrategy: String?, weightStrategy: String?) {
        self.init(name: q.name,
                  activation: TensorQuantization(bits: q.activationBits, isUnsigned: q.activationUnsigned,
                                                 threshold: q.thresholds.activation, strategy: activationStrategy),
                  weight: TensorQuantization(bits: q.weightBits, isUnsigned: false, threshold: q.thresholds.weight,
                                             strategy: weightStrategy, channelThresholds: q.thresholds.weightChannels,
                                             rounding: q.thresholds.weightRounding))
    }

    /// Back to dqss's record (to install the same fake quantizers in the Swift network).
    public var layerQuantization: LayerQuantization {
        LayerQuantization(name: name, weightBits: weight.bits, activationBits: activation.bits,
                          activationUnsigned: activation.isUnsigned,
                          thresholds: LayerThresholds(weight: weight.threshold, activation: activation.threshold,
                                                      weightChannels: weight.channelThresholds,
                                                      weightRounding: weight.rounding))
    }
}
