// evaluateTop1: top-1 of a classifier over a labelled image set, batch by batch, in evaluation mode.
//
// The data side is a closure so that any source (CIFAR-10 binary records, later ImageNet folders) can
// feed it: `batch(range)` returns the normalised images [B, C, H, W] and labels for images `range`.
// Prediction = argmax of the logits (first maximum on ties, like torch.argmax on CPU). It keeps every
// prediction and the logits of image 0 (for checks against reference dumps) and reports progress, for
// `dqss eval` and the baseline tests.

import Foundation
import DQSSTensor
import DQSSLayers

public struct ClassifierResult: Sendable {
    public var correct: Int
    public var total: Int
    /// Top-1 accuracy in percent.
    public var top1: Double { total == 0 ? 0 : 100 * Double(correct) / Double(total) }
    /// Predicted class of every image, in order.
    public var predictions: [Int]
    /// Whether each image, in order, was classified correctly (paired comparisons of two networks: PairedTop1).
    public var hits: [Bool] = []
    /// Logits of image 0 (empty when there are no images), for checks against reference dumps.
    public var firstLogits: [Float]
    /// Wall-clock seconds spent in the loop (data + forward).
    public var seconds: Double
}

/// Run `model` (switched to evaluation mode) over `total` images in batches of `batchSize`.
/// - Parameters:
///   - batch: images [B, C, H, W] and their B labels for the given index range.
///   - progress: called after each batch with (images done, seconds elapsed).
///   - logits: called after each forward with the batch's image range and its logits [B, K] (valid only
///     during the call): what a caller keeps of them beyond top-1 (ShardedEvaluation's fidelity to FP32).
public func evaluateTop1(_ model: any UnaryLayer, total: Int, batchSize: Int,
                               batch: (Range<Int>) throws -> (images: Tensor, labels: [Int]),
                               progress: ((Int, Double) -> Void)? = nil,
                               logits onLogits: ((Range<Int>, Tensor) -> Void)? = nil) throws -> ClassifierResult {
    precondition(batchSize > 0, "batch size must be positive")
    model.setTraining(false)
    let start = DispatchTime.now().uptimeNanoseconds
    func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 }
    var result = ClassifierResult(correct: 0, total: total, predictions: [], firstLogits: [], seconds: 0)
    result.predictions.reserveCapacity(total)
    result.hits.reserveCapacity(total)
    var lo = 0
    while lo < total {
        let hi = min(lo + batchSize, total)
        let (images, labels) = try batch(lo..<hi)
        precondition(images.shape.first == hi - lo && labels.count == hi - lo,
                     "batch \(lo)..<\(hi) returned \(images.shape) images and \(labels.count) labels")
        let logits = model.forward(images)
        onLogits?(lo..<hi, logits)
        let classes = logits.count / (hi - lo)
        if lo == 0 { result.firstLogits = Array(UnsafeBufferPointer(start: logits.data, count: classes)) }
        for (i, p) in argmaxPredictions(logits).enumerated() {
            result.predictions.append(p)
            result.hits.append(p == labels[i])
            if p == labels[i] { result.correct += 1 }
        }
        lo = hi
        progress?(lo, elapsed())
    }
    result.seconds = elapsed()
    return result
}
