// ONNXNetworkExporter: a zoo network (its layer tree) -> an ONNX graph, optionally with the QDQ placement
// of ALGORITHMS.md §2 (a QuantizeLinear/DequantizeLinear pair on the input and on the weight of every
// Conv2d/Linear, scale s = T / q_max, zero point 0, int8 or uint8 for unsigned inputs).
//
// The graph computes exactly what the Swift network's eval-mode forward computes:
//   Conv2d            -> Conv (bias input when the layer has one)
//   BatchNorm2d       -> BatchNormalization (running statistics; NOT folded, as dqss's quantized model)
//   ReLU / ReLU6      -> Relu / Clip(0, 6);  LeakyReLU -> LeakyRelu;  Dropout -> nothing (eval)
//   Add (residuals)   -> Add;  MaxPool2d / AvgPool2d -> MaxPool / AveragePool (count_include_pad = 1)
//   GlobalAvgPool2d   -> GlobalAveragePool;  Flatten -> Flatten(axis 1);  Linear -> Gemm(transB = 1)
//   option-A shortcut -> Slice(H, W step 2) + Pad(channels, zeros)
//   ShuffleNet unit   -> Split / Concat / Reshape + Transpose + Reshape (channel shuffle)
// Graph input "input": the NORMALISED image batch [N, C, H, W] float32 — the tensor `dqss eval` feeds
// the network; the caller normalises (x = (byte/255 − mean)/std, mean/std in the model's metadata_props
// "dqss.normalization.mean"/"...std"). Keeping normalisation out of the graph keeps the first conv's
// input quantizer on the graph input itself (its threshold was calibrated on normalised images).
// Graph output "logits" [N, classes]. Tensor names follow the PyTorch modules ("layer1.0.conv1" is that
// conv's output, "layer1.0.relu2" the block output); the TensorRT calibration cache uses the same names.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSModels
import ONNXProto

public struct ONNXExportOptions: Sendable {
    /// Default-domain opset (13: the first with per-axis QDQ, Split/Pad/Slice with tensor inputs).
    public var opset: Int64 = 13
    /// Insert Clip(−127·s, 127·s) before each signed 8-bit activation QuantizeLinear so that int8
    /// saturation equals dqss's narrow range [−127, 127] (see TensorQuantization). Default on: the
    /// runtime then reproduces dqss image for image (measured: ShuffleNetV2 W8A8 KL, 3 of 932 test
    /// predictions differ without the Clip, none with it). Off gives the bare Q/DQ pattern.
    public var exactNarrowRange = true
    public init(opset: Int64 = 13, exactNarrowRange: Bool = true) {
        self.opset = opset
        self.exactNarrowRange = exactNarrowRange
    }
}

/// One quantized operator of an exported graph.
public struct ExportedQuantizationPoint: Sendable {
    public var layer: String
    /// Name of the FP32 tensor feeding the layer (before any Q/DQ): the TensorRT cache key.
    public var inputTensor: String
    /// The quantization written (nil in an FP32 export).
    public var quantization: LayerExportQuantization?

    public init(layer: String, inputTensor: String, quantization: LayerExportQuantization?) {
        self.layer = layer
        self.inputTensor = inputTensor
        self.quantization = quantization
    }
}

public struct ExportedONNX {
    public var model: Onnx_ModelProto
    public var points: [ExportedQuantizationPoint]

    /// The serialised protobuf (.onnx file contents).
    public func serialized() throws -> Data { try model.serializedData() }
}

public struct ONNXNetworkExporter {
    /// A tensor of the graph being built: its name and its shape without the batch dimension.
    struct Value {
        var name: String
        var shape: [Int]
    }

    private var builder: ONNXGraphBuilder
    private let quantization: [String: LayerExportQuantization]?
    private let options: ONNXExportOptions
    private var points: [ExportedQuantizationPoint] = []
    private var used: Set<String> = []

    private init(name: String, quantization: [LayerExportQuantization]?, options: ONNXExportOptions) throws {
        builder = ONNXGraphBuilder(name: name, opset: options.opset)
        self.options = options
        if let quantization {
            var map: [String: LayerExportQuantization] = [:]
            for q in quantization {
                guard map[q.name] == nil else { throw ExportError("layer \(q.name) is quantized twice in the assignment") }
                try q.activation.validate(tensor: "\(q.name) input")
                try q.weight.validate(tensor: "\(q.name).weight")
                guard !q.weight.isUnsigned else { throw ExportError("\(q.name).weight: weights are always signed (§1.1)") }
                map[q.name] = q
            }
            self.quantization = map
        } else {
            self.quantization = nil
        }
    }

    /// Export `network` (eval mode) for inputs of shape [N] + `inputShape`.
    /// - Parameters:
    ///   - quantization: one entry per Conv2d/Linear (by dotted name), or nil for the FP32 graph.
    ///   - metadata: extra metadata_props (normalisation, provenance).
    public static func export(_ network: any UnaryLayer, name: String, inputShape: [Int],
                              quantization: [LayerExportQuantization]?, options: ONNXExportOptions = .init(),
                              metadata: [(String, String)] = []) throws -> ExportedONNX {
        var e = try ONNXNetworkExporter(name: name, quantization: quantization, options: options)
        let input = Value(name: e.builder.addInput("input", dims: [nil] + inputShape.map { Optional($0) }),
                          shape: inputShape)
        var out = try e.emit(network, name: "", input)
        if let map = e.quantization {
            let unused = Set(map.keys).subtracting(e.used)
            guard unused.isEmpty else {
                throw ExportError("the assignment names layers the network does not have: \(unused.sorted().joined(separator: ", "))")
            }
        }
        // The graph output gets the stable name "logits".
        out.name = e.builder.addNode("Identity", inputs: [out.name], output: "logits")
        e.builder.addOutput(out.name, dims: [nil] + out.shape.map { Optional($0) })
        var meta = metadata
        meta.append(("dqss.quantized", quantization == nil ? "false" : "true"))
        meta.append(("dqss.exact_narrow_range", options.exactNarrowRange ? "true" : "false"))
        return ExportedONNX(model: e.builder.model(producerVersion: "0.1", metadata: meta), points: e.points)
    }

    private static func join(_ prefix: String, _ child: String) -> String {
        prefix.isEmpty ? child : prefix + "." + child
    }

    // MARK: - Dispatch over the layer tree

    private mutating func emit(_ layer: any Layer, name: String, _ x: Value) throws -> Value {
        switch layer {
        case let m as any SequentialModel: return try emitChain(m.body.layers, prefix: name, x)
        case let s as Sequential: return try emitChain(s.layers, prefix: name, x)
        case let c as Conv2d: return try emitConv(c, name: name, x)
        case let l as Linear: return try emitLinear(l, name: name, x)
        case let bn as BatchNorm2d: return try emitBatchNorm(bn, name: name, x)
        case is ReLU: return unary("Relu", name: name, x)
        case is ReLU6: return clip(x, min: 0, max: 6, name: name)
        case let l as LeakyReLU:
            return Value(name: builder.addNode("LeakyRelu", inputs: [x.name], output: name,
                                               attributes: [ONNXGraphBuilder.attribute("alpha", float: l.negativeSlope)]),
                         shape: x.shape)
        case is Dropout: return x
        case is Flatten:
            return Value(name: builder.addNode("Flatten", inputs: [x.name], output: name,
                                               attributes: [ONNXGraphBuilder.attribute("axis", int: 1)]),
                         shape: [x.shape.reduce(1, *)])
        case is GlobalAvgPool2d:
            try expectRank(x, 3, name)
            return Value(name: builder.addNode("GlobalAveragePool", inputs: [x.name], output: name),
                         shape: [x.shape[0], 1, 1])
        case let p as MaxPool2d:
            return try pool("MaxPool", name: name, x, kernel: p.window.kernelSize, stride: p.window.stride, padding: p.window.padding)
        case let p as AvgPool2d:
            return try pool("AveragePool", name: name, x, kernel: p.window.kernelSize, stride: p.window.stride, padding: p.window.padding,
                            extra: [ONNXGraphBuilder.attribute("count_include_pad", int: 1)])
        case let s as OptionAShortcut: return try emitOptionA(s, name: name, x)
        case let b as CIFARBasicBlock: return try emitCIFARBasicBlock(b, name: name, x)
        case let b as BasicBlock: return try emitBasicBlock(b, name: name, x)
        case let b as Bottleneck: return try emitBottleneck(b, name: name, x)
        case let u as ShuffleUnit: return try emitShuffleUnit(u, name: name, x)
        case let r as InvertedResidual: return try emitInvertedResidual(r, name: name, x)
        default:
            throw ExportError("\(name.isEmpty ? "the network" : name): \(type(of: layer)) has no ONNX export")
        }
    }

    private mutating func emitChain(_ layers: [(name: String, layer: any UnaryLayer)], prefix: String,
                                    _ x: Value) throws -> Value {
        var y = x
        for l in layers { y = try emit(l.layer, name: Self.join(prefix, l.name), y) }
        return y
    }

    private func expectRank(_ x: Value, _ rank: Int, _ name: String) throws {
        guard x.shape.count == rank else {
            throw ExportError("\(name): expects a rank-\(rank + 1) input, got [N] + \(x.shape)")
        }
    }

    private mutating func unary(_ op: String, name: String, _ x: Value) -> Value {
        Value(name: builder.addNode(op, inputs: [x.name], output: name), shape: x.shape)
    }

    private mutating func clip(_ x: Value, min lo: Float, max hi: Float, name: String) -> Value {
        let a = builder.addScalar(name + ".clip_min", lo)
        let b = builder.addScalar(name + ".clip_max", hi)
        return Value(name: builder.addNode("Clip", inputs: [x.name, a, b], output: name), shape: x.shape)
    }

    private mutating func pool(_ op: String, name: String, _ x: Value, kernel: Int, stride: Int, padding: Int,
                               extra: [Onnx_AttributeProto] = []) throws -> Value {
        try expectRank(x, 3, name)
        let oh = (x.shape[1] + 2 * padding - kernel) / stride + 1
        let ow = (x.shape[2] + 2 * padding - kernel) / stride + 1
        let attrs = [ONNXGraphBuilder.attribute("kernel_shape", ints: [kernel, kernel]),
                     ONNXGraphBuilder.attribute("strides", ints: [stride, stride]),
                     ONNXGraphBuilder.attribute("pads", ints: [padding, padding, padding, padding])] + extra
        return Value(name: builder.addNode(op, inputs: [x.name], output: name, attributes: attrs),
                     shape: [x.shape[0], oh, ow])
    }

    private mutating func add(_ a: Value, _ b: Value, name: String) throws -> Value {
        guard a.shape == b.shape else { throw ExportError("\(name): adding [N] + \(a.shape) and [N] + \(b.shape)") }
        return Value(name: builder.addNode("Add", inputs: [a.name, b.name], output: name), shape: a.shape)
    }

    // MARK: - Quantized operators

    /// The quantization of layer `name`, or nil for FP32 export. Quantized export needs every layer.
    private mutating func quantization(of name: String) throws -> LayerExportQuantization? {
        guard let map = quantization else { return nil }
        guard let q = map[name] else {
            throw ExportError("the assignment has no quantization for layer \(name) (every Conv2d/Linear needs one)")
        }
        used.insert(name)
        return q
    }

    /// Q/DQ on an activation: [Clip ->] QuantizeLinear -> DequantizeLinear. Returns the dequantized tensor.
    private mutating func quantizeActivation(_ x: Value, _ q: TensorQuantization, layer: String) -> String {
        let s = q.scale
        var src = x.name
        // Sub-8-bit grids always need the Clip; signed 8-bit only when the narrow range is requested.
        if q.bits < 8 || (!q.isUnsigned && options.exactNarrowRange) {
            src = clip(x, min: Float(q.qmin) * s, max: Float(q.qmax) * s, name: layer + ".input_clipped").name
        }
        let scale = builder.addScalar(layer + ".input_scale", s)
        let zp = builder.addZeroPoint(layer + ".input_zero_point", unsigned: q.isUnsigned)
        let qn = builder.addNode("QuantizeLinear", inputs: [src, scale, zp], output: layer + ".input_quantized")
        return builder.addNode("DequantizeLinear", inputs: [qn, scale, zp], output: layer + ".input_dequantized")
    }

    /// The weight initializer, with Q/DQ when quantized. The stored FP32 weight is clamped to
    /// [q_min·s, q_max·s] so that int8 saturation cannot differ from the narrow range (exact, no node).
    private mutating func weightInput(_ w: Tensor, layer: String, _ q: TensorQuantization?) throws -> String {
        guard let q else {
            return builder.addFloatInitializer(layer + ".weight", dims: w.shape,
                                               values: UnsafeBufferPointer(start: w.data, count: w.count))
        }
        // One scale per output channel (per-axis QDQ, axis 0) or one for the tensor.
        if let c = q.channelThresholds, c.count != w.shape.first {
            throw ExportError("\(layer).weight: \(c.count) per-channel thresholds for a weight of \(w.shape.first ?? 0) output channels \(w.shape)")
        }
        let scales = q.channelScales ?? [q.scale]
        let per = w.count / scales.count
        var clamped = [Float](repeating: 0, count: w.count)
        if let r = q.rounding {
            // AdaRound: the weight moved onto the learned grid point (ŵ = s·code), which QuantizeLinear
            // maps back to that code exactly.
            guard r.count == w.count else {
                throw ExportError("\(layer).weight: AdaRound rounding of \(r.count) weights for a weight of \(w.count) \(w.shape)")
            }
            let thresholds = q.channelThresholds ?? [q.threshold]
            clamped.withUnsafeMutableBufferPointer { out in
                for (c, t) in thresholds.enumerated() {
                    r.fakeQuantize(w.data + c * per, into: out.baseAddress! + c * per, count: per, offset: c * per,
                                   threshold: t, quantizer: q.quantizer)
                }
            }
        } else {
            for (c, s) in scales.enumerated() {
                let lo = Float(q.qmin) * s, hi = Float(q.qmax) * s
                for i in c * per ..< (c + 1) * per { clamped[i] = Swift.min(Swift.max(w.data[i], lo), hi) }
            }
        }
        let name = builder.addFloatInitializer(layer + ".weight", dims: w.shape, values: clamped)
        guard q.channelThresholds != nil else {
            let scale = builder.addScalar(layer + ".weight_scale", scales[0])
            let zp = builder.addZeroPoint(layer + ".weight_zero_point", unsigned: false)
            let qn = builder.addNode("QuantizeLinear", inputs: [name, scale, zp], output: layer + ".weight_quantized")
            return builder.addNode("DequantizeLinear", inputs: [qn, scale, zp], output: layer + ".weight_dequantized")
        }
        let scale = builder.addFloatInitializer(layer + ".weight_scale", dims: [scales.count], values: scales)
        let zp = builder.addZeroPoint(layer + ".weight_zero_point", unsigned: false, count: scales.count)
        let axis = [ONNXGraphBuilder.attribute("axis", int: 0)]
        let qn = builder.addNode("QuantizeLinear", inputs: [name, scale, zp], output: layer + ".weight_quantized", attributes: axis)
        return builder.addNode("DequantizeLinear", inputs: [qn, scale, zp], output: layer + ".weight_dequantized", attributes: axis)
    }

    private mutating func quantizedInputs(_ x: Value, weight: Tensor, bias: Parameter?, layer: String) throws -> [String] {
        let q = try quantization(of: layer)
        points.append(ExportedQuantizationPoint(layer: layer, inputTensor: x.name, quantization: q))
        let input = q.map { quantizeActivation(x, $0.activation, layer: layer) } ?? x.name
        var inputs = [input, try weightInput(weight, layer: layer, q?.weight)]
        if let bias {
            inputs.append(builder.addFloatInitializer(layer + ".bias", dims: bias.value.shape,
                                                      values: UnsafeBufferPointer(start: bias.value.data,
                                                                                  count: bias.value.count)))
        }
        return inputs
    }

    private mutating func emitConv(_ c: Conv2d, name: String, _ x: Value) throws -> Value {
        try expectRank(x, 3, name)
        guard x.shape[0] == c.inChannels else {
            throw ExportError("\(name): Conv2d expects \(c.inChannels) channels, gets [N] + \(x.shape)")
        }
        let inputs = try quantizedInputs(x, weight: c.weight.value, bias: c.bias, layer: name)
        let k = c.kernelSize, s = c.stride, p = c.padding
        let oh = (x.shape[1] + 2 * p - k) / s + 1, ow = (x.shape[2] + 2 * p - k) / s + 1
        let attrs = [ONNXGraphBuilder.attribute("kernel_shape", ints: [k, k]),
                     ONNXGraphBuilder.attribute("strides", ints: [s, s]),
                     ONNXGraphBuilder.attribute("pads", ints: [p, p, p, p]),
                     ONNXGraphBuilder.attribute("dilations", ints: [1, 1]),
                     ONNXGraphBuilder.attribute("group", int: c.groups)]
        return Value(name: builder.addNode("Conv", inputs: inputs, output: name, attributes: attrs),
                     shape: [c.outChannels, oh, ow])
    }

    private mutating func emitLinear(_ l: Linear, name: String, _ x: Value) throws -> Value {
        guard x.shape == [l.inFeatures] else {
            throw ExportError("\(name): Linear expects [N, \(l.inFeatures)], gets [N] + \(x.shape)")
        }
        let inputs = try quantizedInputs(x, weight: l.weight.value, bias: l.bias, layer: name)
        let attrs = [ONNXGraphBuilder.attribute("transB", int: 1)]
        return Value(name: builder.addNode("Gemm", inputs: inputs, output: name, attributes: attrs),
                     shape: [l.outFeatures])
    }

    private mutating func emitBatchNorm(_ bn: BatchNorm2d, name: String, _ x: Value) throws -> Value {
        try expectRank(x, 3, name)
        func t(_ suffix: String, _ v: Tensor) -> String {
            builder.addFloatInitializer(name + "." + suffix, dims: v.shape,
                                        values: UnsafeBufferPointer(start: v.data, count: v.count))
        }
        let inputs = [x.name, t("weight", bn.weight.value), t("bias", bn.bias.value),
                      t("running_mean", bn.runningMean), t("running_var", bn.runningVar)]
        let attrs = [ONNXGraphBuilder.attribute("epsilon", float: bn.eps)]
        return Value(name: builder.addNode("BatchNormalization", inputs: inputs, output: name, attributes: attrs),
                     shape: x.shape)
    }

    // MARK: - Blocks

    /// y = pad_channels(x[:, :, ::2, ::2]) with (out − in)/2 zero channels on each side.
    private mutating func emitOptionA(_ s: OptionAShortcut, name: String, _ x: Value) throws -> Value {
        try expectRank(x, 3, name)
        let starts = builder.addInt64Initializer(name + ".starts", [0, 0])
        let ends = builder.addInt64Initializer(name + ".ends", [Int64.max, Int64.max])
        let axes = builder.addInt64Initializer(name + ".axes", [2, 3])
        let steps = builder.addInt64Initializer(name + ".steps", [2, 2])
        let sliced = builder.addNode("Slice", inputs: [x.name, starts, ends, axes, steps], output: name + ".subsample")
        let p = Int64((s.outChannels - s.inChannels) / 2)
        let pads = builder.addInt64Initializer(name + ".pads", [0, p, 0, 0, 0, p, 0, 0])
        let out = builder.addNode("Pad", inputs: [sliced, pads], output: name,
                                  attributes: [])   // mode "constant", value 0 (defaults)
        return Value(name: out, shape: [s.outChannels, (x.shape[1] + 1) / 2, (x.shape[2] + 1) / 2])
    }

    private mutating func emitCIFARBasicBlock(_ b: CIFARBasicBlock, name: String, _ x: Value) throws -> Value {
        let j = { Self.join(name, $0) }
        var h = try emit(b.conv1, name: j("conv1"), x)
        h = try emit(b.bn1, name: j("bn1"), h)
        h = unary("Relu", name: j("relu1"), h)
        h = try emit(b.conv2, name: j("conv2"), h)
        h = try emit(b.bn2, name: j("bn2"), h)
        let shortcut = try b.shortcut.map { try emit($0, name: j("shortcut"), x) } ?? x
        return unary("Relu", name: j("relu2"), try add(h, shortcut, name: j("add")))
    }

    private mutating func emitBasicBlock(_ b: BasicBlock, name: String, _ x: Value) throws -> Value {
        let j = { Self.join(name, $0) }
        var h = try emit(b.conv1, name: j("conv1"), x)
        h = unary("Relu", name: j("relu1"), try emit(b.bn1, name: j("bn1"), h))
        h = try emit(b.bn2, name: j("bn2"), try emit(b.conv2, name: j("conv2"), h))
        let identity = try b.downsample.map { try emit($0, name: j("downsample"), x) } ?? x
        return unary("Relu", name: j("relu2"), try add(h, identity, name: j("add")))
    }

    private mutating func emitBottleneck(_ b: Bottleneck, name: String, _ x: Value) throws -> Value {
        let j = { Self.join(name, $0) }
        var h = unary("Relu", name: j("relu1"), try emit(b.bn1, name: j("bn1"), try emit(b.conv1, name: j("conv1"), x)))
        h = unary("Relu", name: j("relu2"), try emit(b.bn2, name: j("bn2"), try emit(b.conv2, name: j("conv2"), h)))
        h = try emit(b.bn3, name: j("bn3"), try emit(b.conv3, name: j("conv3"), h))
        let identity = try b.downsample.map { try emit($0, name: j("downsample"), x) } ?? x
        return unary("Relu", name: j("relu3"), try add(h, identity, name: j("add")))
    }

    private mutating func emitInvertedResidual(_ r: InvertedResidual, name: String, _ x: Value) throws -> Value {
        let y = try emit(r.conv, name: Self.join(name, "conv"), x)
        return r.usesResidual ? try add(x, y, name: Self.join(name, "add")) : y
    }

    /// stride 1: (x1, x2) = split(x); shuffle(concat[x1, branch2(x2)]); stride 2: shuffle(concat[branch1(x), branch2(x)]).
    private mutating func emitShuffleUnit(_ u: ShuffleUnit, name: String, _ x: Value) throws -> Value {
        try expectRank(x, 3, name)
        let j = { Self.join(name, $0) }
        let left: Value, right: Value
        if let branch1 = u.branch1 {
            left = try emit(branch1, name: j("branch1"), x)
            right = try emit(u.branch2, name: j("branch2"), x)
        } else {
            let c = x.shape[0], half = c / 2
            let sizes = builder.addInt64Initializer(j("split_sizes"), [Int64(half), Int64(c - half)])
            let parts = builder.addNode("Split", inputs: [x.name, sizes], outputs: [j("split.0"), j("split.1")],
                                        attributes: [ONNXGraphBuilder.attribute("axis", int: 1)])
            left = Value(name: parts[0], shape: [half] + x.shape.dropFirst())
            right = try emit(u.branch2, name: j("branch2"), Value(name: parts[1], shape: [c - half] + x.shape.dropFirst()))
        }
        guard left.shape.dropFirst() == right.shape.dropFirst() else {
            throw ExportError("\(name): branches give [N] + \(left.shape) and [N] + \(right.shape)")
        }
        let c = left.shape[0] + right.shape[0], h = left.shape[1], w = left.shape[2]
        let cat = builder.addNode("Concat", inputs: [left.name, right.name], output: j("concat"),
                                  attributes: [ONNXGraphBuilder.attribute("axis", int: 1)])
        // Channel shuffle, 2 groups: [N, 2, C/2, H, W] -> swap axes 1, 2 -> [N, C, H, W].
        let groups = 2
        let s1 = builder.addInt64Initializer(j("shuffle.shape1"), [-1, Int64(groups), Int64(c / groups), Int64(h), Int64(w)])
        let r1 = builder.addNode("Reshape", inputs: [cat, s1], output: j("shuffle.grouped"))
        let tr = builder.addNode("Transpose", inputs: [r1], output: j("shuffle.transposed"),
                                 attributes: [ONNXGraphBuilder.attribute("perm", ints: [0, 2, 1, 3, 4])])
        let s2 = builder.addInt64Initializer(j("shuffle.shape2"), [-1, Int64(c), Int64(h), Int64(w)])
        return Value(name: builder.addNode("Reshape", inputs: [tr, s2], output: j("shuffle")), shape: [c, h, w])
    }
}
