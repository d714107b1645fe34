import Foundation
import Testing
import DQSSTensor
import DQSSData
import DQSSModels

private let imdnWeights = sharedDatasets.appendingPathComponent("models/sr/imdn_x4.safetensors")
private let srData = sharedDatasets.appendingPathComponent("sr")
private let srDataPresent = FileManager.default.fileExists(atPath: imdnWeights.path)
    && FileManager.default.fileExists(atPath: srData.appendingPathComponent("Set5/x4").path)
    && FileManager.default.fileExists(atPath: srData.appendingPathComponent("Set14/x4").path)

/// Whole-image IMDN inference takes seconds optimised but minutes in a debug build.
private let srOptimizedBuild: Bool = {
    #if DEBUG
    return false
    #else
    return true
    #endif
}()

/// FP32 IMDN x4 against BASELINES.md (PSNR-Y ±0.01 dB, SSIM-Y ±0.0005, per set; Set5 per image too).
/// About 10 s in release (Set5 + Set14, whole images); skipped without ../shared/datasets.
@Suite("SR baselines", .serialized,
       .enabled(if: srDataPresent, "skipped: ../shared/datasets/models/sr/imdn_x4.safetensors or sr/Set5, sr/Set14 not found"),
       .enabled(if: srOptimizedBuild, "skipped in debug builds (minutes unoptimised): run swift test -c release"))
struct SRBaselineTests {
    @Test("IMDN x4 FP32 reproduces BASELINES.md on Set5 and Set14")
    func imdn() throws {
        let model = try SRModelZoo.spec(named: "imdn").load(weights: imdnWeights)
        let bench = try SRBenchmark(directory: srData, scale: 4, names: ["Set5", "Set14"])
        let scores = try bench.evaluate(model)
        let expected: [(String, Double, Double, Double)] = [("Set5", 32.2114, 0.8948, 32.1890), ("Set14", 28.5869, 0.7811, 28.5772)]
        for (s, e) in zip(scores, expected) {
            #expect(s.name == e.0)
            #expect(abs(s.psnr - e.1) <= 0.01, "\(s.name) PSNR-Y \(s.psnr) vs \(e.1)")
            #expect(abs(s.ssim - e.2) <= 0.0005, "\(s.name) SSIM-Y \(s.ssim) vs \(e.2)")
            #expect(abs(s.psnrRoundedY - e.3) <= 0.01, "\(s.name) PSNR (rounded Y) \(s.psnrRoundedY) vs \(e.3)")
        }
        // Set5 per image (PSNR-Y / SSIM-Y from BASELINES.md).
        let perImage: [(Double, Double)] = [(33.7749, 0.8934), (35.0515, 0.9457), (28.5610, 0.9240), (32.9239, 0.7964), (30.7458, 0.9144)]
        for (s, e) in zip(scores[0].images, perImage) {
            #expect(abs(s.psnr - e.0) <= 0.01, "\(s.stem) PSNR-Y \(s.psnr) vs \(e.0)")
            #expect(abs(s.ssim - e.1) <= 0.0005, "\(s.stem) SSIM-Y \(s.ssim) vs \(e.1)")
        }
    }
}
