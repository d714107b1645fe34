import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels

/// `<package root>`, from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
/// `<package root>/../shared/datasets`.
let sharedDatasets = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/datasets")
let sharedDataPresent = FileManager.default.fileExists(atPath: sharedDatasets.appendingPathComponent("cifar10/manifest.json").path)

/// Runs `python3` (found on PATH) with `arguments`; returns (status, stdout, stderr).
func runPython(_ arguments: [String]) throws -> (Int32, String, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3"] + arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// True when `python3 -c "import onnxruntime, numpy"` succeeds (CI installs both; see .ci/run).
let onnxRuntimeAvailable: Bool = {
    guard let (status, _, _) = try? runPython(["-c", "import onnxruntime, numpy"]) else { return false }
    return status == 0
}()

/// Per-image predictions and top-1 count of ONNX Runtime on `split`, via scripts/ort_eval.py.
func onnxRuntimePredictions(model: URL, split: String = "test", optLevel: String = "all") throws
    -> (correct: Int, total: Int, predictions: [Int]) {
    let script = packageRoot.appendingPathComponent("scripts/ort_eval.py").path
    let (status, out, err) = try runPython([script, model.path, "--data", sharedDatasets.appendingPathComponent("cifar10").path,
                                            "--split", split, "--opt-level", optLevel, "--json"])
    guard status == 0, let object = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any],
          let correct = object["correct"] as? Int, let total = object["total"] as? Int,
          let predictions = object["predictions"] as? [Int] else {
        throw ORTError(message: "ort_eval.py failed (\(status)): \(err)")
    }
    return (correct, total, predictions)
}

struct ORTError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// dqss's own predictions (argmax, lowest index on ties) and labels on a CIFAR-10 split.
func dqssPredictions(_ model: any UnaryLayer, normalization: Normalization, split: String = "test")
    throws -> (predictions: [Int], labels: [Int]) {
    let data = try CIFAR10Dataset(directory: sharedDatasets.appendingPathComponent("cifar10"), split: split)
    model.setTraining(false)
    let images = Tensor(shape: [0])
    var predictions: [Int] = [], labels: [Int] = []
    var lo = 0
    while lo < data.count {
        let hi = min(lo + 200, data.count)
        labels += data.fillBatch(range: lo..<hi, into: images, normalization: normalization)
        let logits = model.forward(images)
        let k = logits.shape[1]
        for i in 0..<(hi - lo) {
            var best = 0
            for j in 1..<k where logits.data[i * k + j] > logits.data[i * k + best] { best = j }
            predictions.append(best)
        }
        lo = hi
    }
    return (predictions, labels)
}

/// Calibration batch: `count` training images drawn with a seeded permutation (as `dqss ptq`).
func calibrationImages(count: Int, normalization: Normalization, seed: UInt64 = 0) throws -> Tensor {
    let train = try CIFAR10Dataset(directory: sharedDatasets.appendingPathComponent("cifar10"), split: "train")
    var rng = RNG(seed: seed)
    let chosen = Array(rng.permutation(train.count).prefix(count))
    let t = Tensor(shape: [0])
    train.fillBatch(indices: chosen, into: t, normalization: normalization)
    return t
}
