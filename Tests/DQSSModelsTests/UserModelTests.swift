import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels

/// The user-defined model of SequentialModel.swift's header, verbatim.
final class TinyNet: SequentialModel {
    let body: Sequential
    var isTraining = false
    init(rng: inout RNG) {
        body = Sequential(named: [
            ("conv1", Conv2d(3, 8, kernelSize: 3, padding: 1, bias: false, rng: &rng)),
            ("bn1", BatchNorm2d(8)), ("relu", ReLU()),
            ("block", CIFARBasicBlock(inPlanes: 8, planes: 16, stride: 2, rng: &rng)),
            ("pool", GlobalAvgPool2d()), ("flatten", Flatten()),
            ("fc", Linear(16, 10, rng: &rng)),
        ])
    }
}

@Suite("User-defined models")
struct UserModelTests {
    @Test("a composed model has PyTorch names, loads a state_dict and reproduces the source's logits")
    func tinyNet() throws {
        var rng = RNG(seed: 1)
        let source = TinyNet(rng: &rng)
        randomizeBatchNorms(source, rng: &rng)
        let names = source.namedParameters().map(\.name) + source.namedBuffers().map(\.name)
        #expect(names.contains("block.conv2.weight"))
        #expect(names.contains("bn1.running_var"))
        #expect(names.contains("fc.bias"))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-tiny-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafetensorsWriter.write(source.namedParameters().map { ($0.name, $0.parameter.value) }
                                    + source.namedBuffers().filter { !$0.name.hasSuffix("num_batches_tracked") }
                                        .map { ($0.name, $0.tensor) }, to: url)
        var other = RNG(seed: 2)
        let copy = TinyNet(rng: &other)
        try loadWeights(into: copy, from: url)
        let x = Tensor.uniform([2, 3, 8, 8], rng: &rng)
        let expected = source.forward(x).copy()
        let y = copy.forward(x)
        #expect(y.shape == [2, 10])
        #expect(y.array == expected.array)
    }
}
