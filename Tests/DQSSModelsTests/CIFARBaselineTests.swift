import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSRun

/// The FP32 numbers of ../shared/datasets/BASELINES.md, reproduced through the zoo, the strict loader
/// and the manifest normalisation: correct counts (±1 image for float summation order) on the lossless
/// 932-image `test` split and the JPEG-decoded 10,000-image `test-jpeg` split, logits of image 0 (to
/// 1e-3) and the predictions of images 0..19. Skipped when ../shared/datasets is absent. Serialized:
/// each case is a full pass over up to 10,000 images and gets the whole machine.
@Suite("CIFAR-10 FP32 baselines", .serialized, .enabled(if: sharedDatasetsPresent,
                                           "skipped: ../shared/datasets (CIFAR-10 + weights) not found"))
struct CIFARBaselineTests {
    struct Baseline: Sendable, CustomStringConvertible {
        let model: String
        let weights: String
        let split: String
        let correct: Int
        let logits0: [Float]?
        let first20: [Int]?
        var description: String { "\(model) on \(split)" }
    }

    static let predsA = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6]
    static let predsB = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 6, 5, 7, 8, 6]  // ResNet-32: index 15

    /// BASELINES.md, verbatim.
    static let baselines: [Baseline] = [
        Baseline(model: "resnet20", weights: "akamaster_resnet20", split: "test", correct: 854,
                 logits0: [-5.3097, -0.4958, 0.8773, 23.7305, -4.1050, 4.4637, -0.2343, -5.4179, -3.7118, -9.8822],
                 first20: predsA),
        Baseline(model: "resnet32", weights: "akamaster_resnet32", split: "test", correct: 867,
                 logits0: [-0.3690, 1.3433, -1.0559, 18.4410, -6.1009, 0.6111, -1.8881, -2.4627, -3.8274, -4.6605],
                 first20: predsB),
        Baseline(model: "resnet44", weights: "akamaster_resnet44", split: "test", correct: 871,
                 logits0: [-6.8512, -1.0791, 0.7169, 29.5061, -7.3731, 3.7368, 4.2831, -5.0542, -8.3445, -9.7938],
                 first20: predsA),
        Baseline(model: "shufflenetv2_x0_5", weights: "chenyaofo_shufflenetv2_x0_5", split: "test", correct: 844,
                 logits0: [-0.7463, -2.7384, -1.0519, 8.7863, -1.1394, 5.0813, -2.1149, -2.8048, -0.4934, -2.7789],
                 first20: predsA),
        Baseline(model: "resnet20", weights: "akamaster_resnet20", split: "test-jpeg", correct: 8103,
                 logits0: [-5.8226, -2.1921, -0.8919, 14.5274, -0.9192, 3.0611, 2.2636, -5.1382, 1.4792, -6.4261],
                 first20: nil),
        Baseline(model: "resnet32", weights: "akamaster_resnet32", split: "test-jpeg", correct: 8256,
                 logits0: nil, first20: nil),
        Baseline(model: "resnet44", weights: "akamaster_resnet44", split: "test-jpeg", correct: 8267,
                 logits0: nil, first20: nil),
        Baseline(model: "shufflenetv2_x0_5", weights: "chenyaofo_shufflenetv2_x0_5", split: "test-jpeg", correct: 8338,
                 logits0: [-1.3815, -3.3064, 1.5244, 8.4918, 2.4884, 2.8906, -3.5445, -2.9013, -1.3485, -2.9133],
                 first20: nil),
    ]

    @Test("lossless 932-image split: correct count, logits of image 0 and first predictions match BASELINES.md",
          arguments: baselines.filter { $0.split == "test" })
    func lossless(_ b: Baseline) throws { try check(b) }

    /// Four passes over 10,000 images take seconds each when optimised but minutes in a debug build.
    @Test("JPEG-decoded 10,000-image split: correct count (and logits of image 0) match BASELINES.md",
          .enabled(if: optimizedBuild, "skipped in debug builds (minutes unoptimised): run swift test -c release"),
          arguments: baselines.filter { $0.split == "test-jpeg" })
    func jpeg(_ b: Baseline) throws { try check(b) }

    func check(_ b: Baseline) throws {
        let spec = try ModelZoo.spec(named: b.model)
        let weights = sharedDatasets.appendingPathComponent("models/cifar10/\(b.weights).safetensors")
        let model = try spec.load(weights: weights)
        let (norm, source) = try spec.normalization(forWeights: weights)
        #expect(source.hasPrefix("manifest"))
        #expect(norm == spec.normalization, "manifest and documented default normalisation disagree for \(b.model)")
        let split = try loadCIFARSplit(b.split, normalization: norm)
        let r = try evaluateTop1(model, total: split.count, batchSize: 250, batch: split.batch)
        print("\(b): \(r.correct)/\(r.total) in \(String(format: "%.2f", r.seconds)) s")
        #expect(r.total == (b.split == "test" ? 932 : 10_000))
        #expect(abs(r.correct - b.correct) <= 1, "\(b): \(r.correct) correct, BASELINES.md says \(b.correct)")
        if let l = b.logits0 {
            #expect(maxAbsDifference(r.firstLogits, l) < 1e-3, "logits of image 0: \(r.firstLogits)")
        }
        if let p = b.first20 { #expect(Array(r.predictions.prefix(20)) == p) }
    }
}

/// False in debug builds (-Onone), where the conv kernels run an order of magnitude slower.
private let optimizedBuild: Bool = {
    #if DEBUG
    return false
    #else
    return true
    #endif
}()

private func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}
