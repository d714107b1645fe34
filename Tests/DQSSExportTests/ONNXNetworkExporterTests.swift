import Foundation
import Testing
import ONNXProto
import DQSSTensor
import DQSSLayers
import DQSSModels
import DQSSQuant
import DQSSExport

/// Graph structure and QDQ placement on freshly initialised zoo networks (no runtime needed).
@Suite("ONNX export: graph structure and QDQ placement")
struct ONNXNetworkExporterTests {
    static func opCounts(_ m: Onnx_ModelProto) -> [String: Int] {
        m.graph.node.reduce(into: [:]) { $0[$1.opType, default: 0] += 1 }
    }

    static func initializer(_ m: Onnx_ModelProto, _ name: String) -> Onnx_TensorProto? {
        m.graph.initializer.first { $0.name == name }
    }

    static func floats(_ t: Onnx_TensorProto) -> [Float] {
        [UInt8](t.rawData).withUnsafeBytes { raw in
            (0..<(t.rawData.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.load(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    /// Every Conv2d/Linear of `model` at `bits`, input signed only for the first layer, T_a = 2, T_w = max|W|/2.
    static func uniform(_ model: any Layer, bits: Int = 8) -> [LayerExportQuantization] {
        QuantizedModel.points(of: model).enumerated().map { i, p in
            let w = p.layer.weight.value
            var m: Float = 0
            for k in 0..<w.count { m = max(m, abs(w.data[k])) }
            return LayerExportQuantization(name: p.name,
                                           activation: TensorQuantization(bits: bits, isUnsigned: i > 0, threshold: 2),
                                           weight: TensorQuantization(bits: bits, isUnsigned: false, threshold: m / 2))
        }
    }

    @Test("FP32 ResNet-20: 19 Conv + 19 BN + 19 Relu + 9 Add, option A as Slice+Pad, Gemm, no Q/DQ; conv inputs named after producers")
    func resnet20FP32() throws {
        let net = try ModelZoo.spec(named: "resnet20").make(seed: 1)
        let e = try ONNXNetworkExporter.export(net, name: "resnet20", inputShape: [3, 32, 32], quantization: nil)
        let ops = Self.opCounts(e.model)
        #expect(ops["Conv"] == 19 && ops["BatchNormalization"] == 19 && ops["Relu"] == 19 && ops["Add"] == 9)
        #expect(ops["Slice"] == 2 && ops["Pad"] == 2 && ops["Gemm"] == 1 && ops["GlobalAveragePool"] == 1)
        #expect(ops["QuantizeLinear"] == nil && ops["DequantizeLinear"] == nil)
        #expect(e.points.count == 20)
        #expect(e.points[0].inputTensor == "input" && e.points[1].inputTensor == "relu")
        #expect(e.points[3].layer == "layer1.1.conv1" && e.points[3].inputTensor == "layer1.0.relu2")
        #expect(e.points.last?.layer == "linear" && e.points.last?.inputTensor == "flatten")
        #expect(e.model.graph.output.map(\.name) == ["logits"])
        // The option-A pad: 8 zero channels before and after (16 -> 32).
        let pads = try #require(Self.initializer(e.model, "layer2.0.shortcut.pads"))
        #expect(pads.dims == [8])
    }

    @Test("QDQ ResNet-20: a Q/DQ pair on every input and weight; int8 for the signed image, uint8 after ReLU; weights clamped to ±127·s")
    func resnet20QDQ() throws {
        let net = try ModelZoo.spec(named: "resnet20").make(seed: 1)
        let q = Self.uniform(net)
        let e = try ONNXNetworkExporter.export(net, name: "resnet20", inputShape: [3, 32, 32], quantization: q,
                                               options: ONNXExportOptions(exactNarrowRange: false))
        let ops = Self.opCounts(e.model)
        #expect(ops["QuantizeLinear"] == 40 && ops["DequantizeLinear"] == 40 && ops["Clip"] == nil)
        #expect(Self.initializer(e.model, "conv1.input_zero_point")?.dataType == 3)            // INT8
        #expect(Self.initializer(e.model, "layer1.0.conv1.input_zero_point")?.dataType == 2)   // UINT8
        #expect(Self.initializer(e.model, "layer1.0.conv1.weight_zero_point")?.dataType == 3)
        let scale = try #require(Self.initializer(e.model, "layer1.0.conv1.input_scale"))
        #expect(Self.floats(scale) == [Float(2) / 255])
        // The conv reads the dequantized input and weight.
        let conv = try #require(e.model.graph.node.first { $0.name == "layer1.0.conv1" })
        #expect(conv.input == ["layer1.0.conv1.input_dequantized", "layer1.0.conv1.weight_dequantized"])
        // Weight initializer: clamped to [-127 s, 127 s] where |W| > T, untouched inside.
        let conv2 = net.namedLayers().first { $0.name == "layer2.0.conv2" }!.layer as! Conv2d
        let w = conv2.weight.value
        let s = q.first { $0.name == "layer2.0.conv2" }!.weight.scale
        let stored = Self.floats(try #require(Self.initializer(e.model, "layer2.0.conv2.weight")))
        var clamped = 0
        for i in 0..<w.count {
            let expected = min(max(w.data[i], -127 * s), 127 * s)
            #expect(stored[i] == expected)
            if expected != w.data[i] { clamped += 1 }
        }
        #expect(clamped > 0)   // T_w = max|W|/2 clips the tails
    }

    @Test("AdaRound weight: the initializer holds s·code with the learned codes (⌊W/s⌋ + up, not round-to-nearest), per tensor and per channel")
    func adaRoundWeights() throws {
        let net = try ModelZoo.spec(named: "resnet20").make(seed: 1)
        var q = Self.uniform(net, bits: 4)
        let i = try #require(q.firstIndex { $0.name == "layer2.0.conv2" })
        let conv2 = net.namedLayers().first { $0.name == "layer2.0.conv2" }!.layer as! Conv2d
        let w = conv2.weight.value
        // Every weight rounded up: differs from round-to-nearest on about half of them.
        let up = WeightRounding(up: [UInt8](repeating: 1, count: w.count))
        for channels in [nil, (0..<32).map { Float(0.05 + 0.01 * Double($0)) }] {
            q[i].weight.channelThresholds = channels
            q[i].weight.rounding = up
            let e = try ONNXNetworkExporter.export(net, name: "resnet20", inputShape: [3, 32, 32], quantization: q)
            let stored = Self.floats(try #require(Self.initializer(e.model, "layer2.0.conv2.weight")))
            let thresholds = channels ?? [q[i].weight.threshold]
            let codes = up.codes(w, quantizer: UniformQuantizer(bits: 4), thresholds: thresholds)
            let per = w.count / thresholds.count
            var differ = 0
            for k in 0..<w.count {
                let s = UniformQuantizer(bits: 4).scale(threshold: thresholds[k / per])
                #expect(stored[k] == s * Float(codes[k]), "element \(k)")
                #expect((stored[k] / s).rounded(.toNearestOrEven) == Float(codes[k]))   // QuantizeLinear gives the code back
                if Float(codes[k]) != min(max((w.data[k] / s).rounded(.toNearestOrEven), -7), 7) { differ += 1 }
            }
            #expect(differ > w.count / 5, "\(differ) of \(w.count)")
        }
        // A mask of the wrong size is refused, naming the weight.
        q[i].weight.rounding = WeightRounding(up: [1, 0])
        #expect(throws: (any Error).self) { try ONNXNetworkExporter.export(net, name: "resnet20", inputShape: [3, 32, 32], quantization: q) }
    }

    @Test("the narrow-range Clip (default) sits before each signed 8-bit input only; 4-bit inputs always get a Clip to the 4-bit grid")
    func clips() throws {
        let net = try ModelZoo.spec(named: "resnet20").make(seed: 1)
        let narrow = try ONNXNetworkExporter.export(net, name: "r", inputShape: [3, 32, 32], quantization: Self.uniform(net))
        #expect(Self.opCounts(narrow.model)["Clip"] == 1)
        #expect(Self.floats(Self.initializer(narrow.model, "conv1.input_clipped.clip_min")!) == [-127 * (Float(2) / 127)])
        let four = try ONNXNetworkExporter.export(net, name: "r", inputShape: [3, 32, 32], quantization: Self.uniform(net, bits: 4),
                                                  options: ONNXExportOptions(exactNarrowRange: false))
        #expect(Self.opCounts(four.model)["Clip"] == 20)
        let s = Float(2) / 15
        #expect(Self.floats(Self.initializer(four.model, "layer1.0.conv1.input_clipped.clip_min")!) == [0])
        #expect(Self.floats(Self.initializer(four.model, "layer1.0.conv1.input_clipped.clip_max")!) == [15 * s])
    }

    @Test("ShuffleNetV2 x0.5: 13 Split (stride-1 units), 16 Concat, shuffle as Reshape/Transpose/Reshape, 57 quantized layers")
    func shuffleNet() throws {
        let net = try ModelZoo.spec(named: "shufflenetv2_x0_5").make(seed: 1)
        let e = try ONNXNetworkExporter.export(net, name: "s", inputShape: [3, 32, 32], quantization: nil)
        let ops = Self.opCounts(e.model)
        #expect(ops["Split"] == 13 && ops["Concat"] == 16 && ops["Transpose"] == 16 && ops["Reshape"] == 32)
        #expect(e.points.count == 57)
        // A stride-2 unit's input feeds both branches: one tensor, two quantization points.
        let shared = e.points.filter { $0.inputTensor == "stage2.3.shuffle" }.map(\.layer)
        #expect(shared == ["stage3.0.branch1.0", "stage3.0.branch2.0"])
        #expect(e.points.first { $0.layer == "stage2.1.branch2.0" }?.inputTensor == "stage2.1.split.1")
    }

    @Test("refuses clearly: missing or unknown layers, 16-bit, zero threshold, unsigned weights, layers without export")
    func refusals() throws {
        let net = try ModelZoo.spec(named: "resnet20").make(seed: 1)
        var q = Self.uniform(net)
        func expectRefusal(_ q: [LayerExportQuantization], _ fragment: String) {
            do {
                _ = try ONNXNetworkExporter.export(net, name: "r", inputShape: [3, 32, 32], quantization: q)
                Issue.record("expected a refusal mentioning \(fragment)")
            } catch {
                #expect("\(error)".contains(fragment), "\(error)")
            }
        }
        expectRefusal(Array(q.dropLast()), "linear")
        var extra = q
        extra.append(LayerExportQuantization(name: "nope", activation: q[0].activation, weight: q[0].weight))
        expectRefusal(extra, "nope")
        q[2].weight.bits = 16
        expectRefusal(q, "layer1.0.conv2.weight")
        q = Self.uniform(net)
        q[1].activation.threshold = 0
        expectRefusal(q, "layer1.0.conv1 input")
        q = Self.uniform(net)
        q[1].weight.isUnsigned = true
        expectRefusal(q, "always signed")

        var rng = RNG(seed: 0)
        let odd = Sequential(named: [("conv", Conv2d(3, 4, kernelSize: 3, padding: 1, rng: &rng)), ("up", PixelShuffle(upscaleFactor: 2))])
        #expect(throws: ExportError.self) {
            try ONNXNetworkExporter.export(odd, name: "odd", inputShape: [3, 8, 8], quantization: nil)
        }
    }
}
