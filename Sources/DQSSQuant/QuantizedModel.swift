// QuantizedModel: the placement of ALGORITHMS.md §2 on an FP32 network. Every Conv2d/Linear (every
// `HookableLayer` found by walking `namedLayers()`, including depthwise/grouped convs, the first conv
// and the classifier: PTQ quantizes all of them at the given bits, §2.2) gets two quantization points:
// its input activation and its weight, each with its own per-tensor threshold. BN, residual adds,
// pools, shuffles and ReLUs stay FP32 (they are not hookable). A layer whose input feeds several
// quantized layers gets one activation quantizer per consumer (§2.3) — automatically, since hooks are
// per consuming layer.

import DQSSTensor
import DQSSLayers

/// One quantized operator of the network.
public struct QuantizationPoint {
    /// Dotted PyTorch name of the layer ("layer1.0.conv1", "fc").
    public let name: String
    public let layer: any HookableLayer
    /// "Conv2d", "Linear", ...
    public var kind: String { String(describing: type(of: layer)) }
}

public enum QuantizedModel {
    /// Every Conv2d/Linear of `model`, in module order.
    public static func points(of model: any Layer) -> [QuantizationPoint] {
        model.namedLayers().compactMap { entry in
            (entry.layer as? any HookableLayer).map { QuantizationPoint(name: entry.name, layer: $0) }
        }
    }

    /// Install fixed-threshold fake quantizers (§1) on the input and weight of every point.
    public static func install(_ points: [QuantizationPoint], assignments: [LayerQuantization]) {
        precondition(points.count == assignments.count, "\(assignments.count) assignments for \(points.count) layers")
        for (p, a) in zip(points, assignments) {
            p.layer.inputHook = FakeQuantHook(quantizer: a.activationQuantizer, threshold: a.thresholds.activation)
            p.layer.weightHook = FakeQuantHook(quantizer: a.weightQuantizer, threshold: a.thresholds.weight,
                                               channelThresholds: a.thresholds.weightChannels,
                                               rounding: a.thresholds.weightRounding)
        }
    }

    /// Remove every hook (back to the FP32 network).
    public static func removeHooks(_ points: [QuantizationPoint]) {
        for p in points {
            p.layer.inputHook = nil
            p.layer.weightHook = nil
        }
    }
}

/// The quantizers and thresholds of one layer (Codable with snake_case keys through DQSSFormats.JSONCoding).
public struct LayerQuantization: Sendable, Codable, Equatable {
    public var name: String
    public var weightBits: Int
    public var activationBits: Int
    public var activationUnsigned: Bool
    public var thresholds: LayerThresholds

    public init(name: String, weightBits: Int, activationBits: Int, activationUnsigned: Bool,
                thresholds: LayerThresholds) {
        self.name = name
        self.weightBits = weightBits
        self.activationBits = activationBits
        self.activationUnsigned = activationUnsigned
        self.thresholds = thresholds
    }

    public var weightQuantizer: UniformQuantizer { UniformQuantizer(bits: weightBits) }
    public var activationQuantizer: UniformQuantizer {
        UniformQuantizer(bits: activationBits, unsigned: activationUnsigned)
    }
}
