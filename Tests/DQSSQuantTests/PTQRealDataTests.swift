import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSRun

/// `<package root>/../shared/datasets`, from this file's path.
private let sharedDatasets = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("shared/datasets")
private let present = FileManager.default.fileExists(
    atPath: sharedDatasets.appendingPathComponent("models/cifar10/akamaster_resnet20.safetensors").path)
    && FileManager.default.fileExists(atPath: sharedDatasets.appendingPathComponent("cifar10/manifest.json").path)

/// PTQ on the pretrained ResNet-20: placement, signedness and W8A8 accuracy on real data.
/// Skipped when ../shared/datasets is absent.
@Suite("PTQ on pretrained ResNet-20", .serialized,
       .enabled(if: present, "skipped: ../shared/datasets (CIFAR-10 + ResNet-20 weights) not found"))
struct PTQRealDataTests {
    @Test("W8A8 Max_Abs and ADMM stay within 1 point of FP32 on 500 test images; 20 layers, first one signed",
          arguments: [PTQMethod.maxAbs, .admm])
    func resnet20W8A8(method: PTQMethod) throws {
        let spec = try ModelZoo.spec(named: "resnet20")
        let weights = sharedDatasets.appendingPathComponent("models/cifar10/akamaster_resnet20.safetensors")
        let model = try spec.load(weights: weights)
        let (norm, _) = try spec.normalization(forWeights: weights)
        let dir = sharedDatasets.appendingPathComponent("cifar10")
        let train = try CIFAR10Dataset(directory: dir, split: "train")
        var rng = RNG(seed: 0)
        let chosen = Array(rng.permutation(train.count).prefix(64))
        let calib = Tensor(shape: [0])
        train.fillBatch(indices: chosen, into: calib, normalization: norm)

        let cal = PTQCalibration(model: model, settings: PTQSettings())
        cal.gather(batches: [calib], methods: [method])
        #expect(cal.points.count == 20)
        #expect(cal.points.first?.name == "conv1" && cal.points.last?.kind == "Linear")
        #expect(!cal.activationUnsigned(0))                       // normalised image: signed
        #expect((1..<20).allSatisfy { cal.activationUnsigned($0) }) // every later input is post-ReLU
        let a = try cal.assignments(for: method)

        let test = try CIFAR10Dataset(directory: dir, split: "test")
        let images = Tensor(shape: [0])
        let batch: (Range<Int>) throws -> (images: Tensor, labels: [Int]) = { r in
            (images, test.fillBatch(range: r, into: images, normalization: norm))
        }
        let fp32 = try evaluateTop1(model, total: 500, batchSize: 250, batch: batch)
        QuantizedModel.install(cal.points, assignments: a)
        let quantized = try evaluateTop1(model, total: 500, batchSize: 250, batch: batch)
        QuantizedModel.removeHooks(cal.points)
        print("resnet20 \(method.paperName) W8A8 on 500 test images: \(quantized.top1) % (FP32 \(fp32.top1) %)")
        #expect(abs(quantized.top1 - fp32.top1) <= 1.0)
    }
}
