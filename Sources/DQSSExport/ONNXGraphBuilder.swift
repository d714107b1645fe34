// ONNXGraphBuilder: accumulates the nodes, initializers and inputs/outputs of one ONNX graph and turns
// them into an `Onnx_ModelProto` (the generated swift-protobuf types of Sources/ONNXProto). It knows
// nothing about networks; `ONNXNetworkExporter` drives it.
//
// Tensor names are unique within a graph: a requested name that is already taken gets a ".1", ".2" ...
// suffix, so the exporter can name tensors after the PyTorch module that produces them
// ("layer1.0.conv1") and still survive a module that appears twice.

import Foundation
import ONNXProto
import SwiftProtobuf

public struct ONNXGraphBuilder {
    /// The opset of the default ("ai.onnx") domain the nodes are written for.
    public let opset: Int64
    public private(set) var graph = Onnx_GraphProto()
    private var taken: Set<String> = []
    private var constantCount = 0

    public init(name: String, opset: Int64) {
        self.opset = opset
        graph.name = name
    }

    /// A fresh tensor name based on `base` (itself if free).
    public mutating func uniqueName(_ base: String) -> String {
        var name = base
        var k = 1
        while taken.contains(name) {
            name = "\(base).\(k)"
            k += 1
        }
        taken.insert(name)
        return name
    }

    // MARK: - Graph inputs and outputs

    /// A float32 graph input with the given dimensions (nil = symbolic dimension `symbol`).
    public mutating func addInput(_ name: String, dims: [Int?], symbol: String = "N") -> String {
        let n = uniqueName(name)
        graph.input.append(Self.valueInfo(n, elemType: .float, dims: dims, symbol: symbol))
        return n
    }

    public mutating func addOutput(_ name: String, dims: [Int?], symbol: String = "N") {
        graph.output.append(Self.valueInfo(name, elemType: .float, dims: dims, symbol: symbol))
    }

    static func valueInfo(_ name: String, elemType: Onnx_TensorProto.DataType, dims: [Int?], symbol: String)
        -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let d { dim.dimValue = Int64(d) } else { dim.dimParam = symbol }
            return dim
        }
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = Int32(elemType.rawValue)
        tensorType.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensorType
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }

    // MARK: - Initializers (constants)

    /// A float32 initializer holding `values` (row-major, `dims`). Returns its (unique) name.
    @discardableResult
    public mutating func addFloatInitializer(_ name: String, dims: [Int], values: UnsafeBufferPointer<Float>) -> String {
        precondition(dims.reduce(1, *) == values.count, "initializer \(name): \(values.count) values for dims \(dims)")
        var t = Onnx_TensorProto()
        t.name = uniqueName(name)
        t.dims = dims.map(Int64.init)
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        t.rawData = Self.littleEndianBytes(values)
        graph.initializer.append(t)
        return t.name
    }

    @discardableResult
    public mutating func addFloatInitializer(_ name: String, dims: [Int], values: [Float]) -> String {
        values.withUnsafeBufferPointer { addFloatInitializer(name, dims: dims, values: $0) }
    }

    /// A scalar (rank 0) float32 initializer.
    @discardableResult
    public mutating func addScalar(_ name: String, _ value: Float) -> String {
        addFloatInitializer(name, dims: [], values: [value])
    }

    /// An int8 or uint8 zero point (value 0): a scalar, or 1-D of `count` for per-axis QDQ.
    @discardableResult
    public mutating func addZeroPoint(_ name: String, unsigned: Bool, count: Int? = nil) -> String {
        var t = Onnx_TensorProto()
        t.name = uniqueName(name)
        t.dims = count.map { [Int64($0)] } ?? []
        t.dataType = Int32((unsigned ? Onnx_TensorProto.DataType.uint8 : .int8).rawValue)
        t.rawData = Data(repeating: 0, count: count ?? 1)
        graph.initializer.append(t)
        return t.name
    }

    /// A 1-D int64 initializer (shapes, axes, pads of Reshape/Slice/Pad/Split).
    @discardableResult
    public mutating func addInt64Initializer(_ name: String, _ values: [Int64]) -> String {
        var t = Onnx_TensorProto()
        t.name = uniqueName(name)
        t.dims = [Int64(values.count)]
        t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        var bytes = Data(capacity: 8 * values.count)
        for v in values { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        t.rawData = bytes
        graph.initializer.append(t)
        return t.name
    }

    /// ONNX raw_data is little-endian; Float's bit pattern is written byte by byte in that order.
    static func littleEndianBytes(_ values: UnsafeBufferPointer<Float>) -> Data {
        var out = Data(count: 4 * values.count)
        out.withUnsafeMutableBytes { raw in
            let p = raw.bindMemory(to: UInt32.self)
            for i in 0..<values.count { p[i] = values[i].bitPattern.littleEndian }
        }
        return out
    }

    // MARK: - Nodes

    /// Appends a node; `outputs` are requested names (made unique). Returns the output names.
    @discardableResult
    public mutating func addNode(_ opType: String, inputs: [String], outputs: [String], name: String? = nil,
                                 attributes: [Onnx_AttributeProto] = []) -> [String] {
        var node = Onnx_NodeProto()
        node.opType = opType
        node.input = inputs
        node.output = outputs.map { uniqueName($0) }
        node.name = name ?? node.output[0]
        node.attribute = attributes
        graph.node.append(node)
        return node.output
    }

    /// One-output convenience form.
    public mutating func addNode(_ opType: String, inputs: [String], output: String,
                                 attributes: [Onnx_AttributeProto] = []) -> String {
        addNode(opType, inputs: inputs, outputs: [output], attributes: attributes)[0]
    }

    // MARK: - Attributes

    public static func attribute(_ name: String, int value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(value)
        return a
    }

    public static func attribute(_ name: String, ints values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values.map(Int64.init)
        return a
    }

    public static func attribute(_ name: String, float value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = value
        return a
    }

    // MARK: - Model

    /// The finished model: IR version 8 (readable by ONNX Runtime ≥ 1.10 and TensorRT ≥ 8), one opset
    /// import, `metadata` as metadata_props (the export writes normalisation and provenance there).
    public func model(producerVersion: String, metadata: [(String, String)]) -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var op = Onnx_OperatorSetIdProto()
        op.domain = ""
        op.version = opset
        m.opsetImport = [op]
        m.producerName = "dqss"
        m.producerVersion = producerVersion
        m.graph = graph
        m.metadataProps = metadata.map { k, v in
            var e = Onnx_StringStringEntryProto()
            e.key = k
            e.value = v
            return e
        }
        return m
    }
}
