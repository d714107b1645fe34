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

    /// ResNet-20 and 64 calibration images of the train split (seed 0), as in `resnet20W8A8`.
    private func resnet20Calibration(_ methods: [PTQMethod], settings: PTQSettings = PTQSettings()) throws
        -> (model: any UnaryLayer, calibration: PTQCalibration, images: Tensor) {
        let spec = try ModelZoo.spec(named: "resnet20")
        let weights = sharedDatasets.appendingPathComponent("models/cifar10/akamaster_resnet20.safetensors")
        let model = try spec.load(weights: weights)
        let (norm, _) = try spec.normalization(forWeights: weights)
        let train = try CIFAR10Dataset(directory: sharedDatasets.appendingPathComponent("cifar10"), split: "train")
        var rng = RNG(seed: 0)
        let calib = Tensor(shape: [0])
        train.fillBatch(indices: Array(rng.permutation(train.count).prefix(64)), into: calib, normalization: norm)
        let cal = PTQCalibration(model: model, settings: settings)
        cal.gather(batches: [calib], methods: methods)
        return (model, cal, calib)
    }

    @Test("MSE at W4A8 on ResNet-20: T_w of conv1, layer2.0.conv1 and linear is the Float64 brute-force argmin over the candidate grid")
    func resnet20MSEWeights() throws {
        let (_, cal, _) = try resnet20Calibration([.mse], settings: PTQSettings(weightBits: 4, activationBits: 8))
        let a = try cal.assignments(for: .mse)
        let q = UniformQuantizer(bits: 4)
        for name in ["conv1", "layer2.0.conv1", "linear"] {
            let i = try #require(cal.points.firstIndex { $0.name == name })
            let w = cal.points[i].layer.weight.value.array.map(Double.init)
            let m = w.map(abs).max()!
            func error(_ t: Double) -> Double {
                let s = t / Double(q.qmax)
                return w.reduce(0) { sum, x in
                    let e = x - s * min(max((x / s).rounded(.toNearestOrEven), -Double(q.qmax)), Double(q.qmax))
                    return sum + e * e
                }
            }
            let best = (128..<2048).map { error((Double($0) + 0.5) * m / 2048) }.min()!
            let chosen = error(Double(a[i].thresholds.weight))
            #expect(chosen <= best * (1 + 1e-6), "\(name): T_w \(a[i].thresholds.weight), error \(chosen) vs \(best)")
            #expect(Double(a[i].thresholds.weight) < m)
        }
    }

    @Test("percentile:P on ResNet-20: conv1's T_a is the exact P-th percentile of |image| rounded up to the next bin edge",
          arguments: [90.0, 99.0, 99.99])
    func resnet20PercentileFirstLayer(p: Double) throws {
        let (_, cal, images) = try resnet20Calibration([.percentile(p)])
        let a = try cal.assignments(for: .percentile(p))
        let sorted = images.array.map { abs($0) }.sorted()
        let exact = sorted[PercentileCalibrator.rank(percentile: p, count: sorted.count) - 1]
        let binWidth = sorted.last! / 2048
        #expect(a[0].thresholds.activation >= exact && a[0].thresholds.activation - exact <= binWidth * 1.0001,
                "P\(p): T_a \(a[0].thresholds.activation), exact \(exact), bin width \(binWidth)")
    }

    @Test("W8A8 MSE and percentile:99.99 stay within 1 point of FP32 on 500 test images",
          arguments: [PTQMethod.mse, .percentile(99.99)])
    func resnet20W8A8NewCandidates(method: PTQMethod) throws {
        try resnet20W8A8(method: method)
    }
}
