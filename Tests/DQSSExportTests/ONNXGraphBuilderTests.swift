import Foundation
import Testing
import ONNXProto
import DQSSExport

@Suite("ONNX graph builder")
struct ONNXGraphBuilderTests {
    @Test("unique names get .1, .2 suffixes; float initializers are little-endian raw_data")
    func namesAndRawData() throws {
        var b = ONNXGraphBuilder(name: "g", opset: 13)
        #expect(b.uniqueName("x") == "x")
        #expect(b.uniqueName("x") == "x.1")
        #expect(b.uniqueName("x") == "x.2")
        let w = b.addFloatInitializer("w", dims: [2], values: [1, -2])
        let t = try #require(b.graph.initializer.first { $0.name == w })
        #expect(t.dims == [2] && t.dataType == 1)   // FLOAT
        #expect([UInt8](t.rawData) == [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0])
        let zp = b.addZeroPoint("zp", unsigned: true)
        let z = try #require(b.graph.initializer.first { $0.name == zp })
        #expect(z.dataType == 2 && z.dims.isEmpty && [UInt8](z.rawData) == [0])   // UINT8 scalar
    }

    @Test("a model round-trips through protobuf serialisation with opset, IR version and metadata")
    func serialisation() throws {
        var b = ONNXGraphBuilder(name: "g", opset: 13)
        let x = b.addInput("input", dims: [nil, 4])
        let y = b.addNode("Relu", inputs: [x], output: "y")
        b.addOutput(y, dims: [nil, 4])
        let m = b.model(producerVersion: "t", metadata: [("k", "v")])
        let back = try Onnx_ModelProto(serializedBytes: try m.serializedData())
        #expect(back.irVersion == 8 && back.opsetImport.first?.version == 13)
        #expect(back.graph.node.map(\.opType) == ["Relu"])
        #expect(back.graph.input.first?.type.tensorType.shape.dim.first?.dimParam == "N")
        #expect(back.metadataProps.first?.key == "k" && back.metadataProps.first?.value == "v")
    }
}
