// The losses the α/β search minimises over the calibration data (ALGORITHMS.md §6 step 4): cross-entropy
// with the labels or KL divergence to the FP32 network's softmax for classifiers (data-parallel, each rank
// holding its shard), L1 to a target image for super-resolution (§9 #11). Weights and thresholds stay
// frozen; only α and β move.

import DQSSTensor
import DQSSLayers
import DQSSSearch
import DQSSDistributed

/// A loss the search pipeline hands every `PTQSearch` it runs.
public protocol SearchLoss {
    /// The report's name of the loss: "ce", "kd" or "l1".
    var name: String { get }
    /// Calibration samples over all ranks: the schedule's steps per epoch are counted over these.
    var totalImages: Int { get }
    /// Run `search`'s schedule with this loss; `progress` after every step.
    func run(_ search: PTQSearch, progress: @escaping (SearchStepRecord) -> Void) throws -> [SearchStepRecord]
    /// The sensitivity pass (SensitivitySelection): over this rank's calibration samples in order, in
    /// batches of `batchSize`, one forward and one backward of the loss SUMMED over the batch's samples
    /// (Σ_n ℓ_n, ℓ_n the per-sample loss), `network` in eval mode. Returns the number of batches.
    func sensitivityPasses(_ network: any UnaryLayer, batchSize: Int) -> Int
}

/// The batches of `count` samples of `batchSize` (the last possibly smaller): forward, the mean loss's
/// gradient scaled by the batch's size (= the gradient of the summed loss), backward.
func summedLossPasses(_ network: any UnaryLayer, count: Int, batchSize: Int,
                      meanLossGradient: (Range<Int>) -> Tensor) -> Int {
    network.setTraining(false)
    var passes = 0
    for start in stride(from: 0, to: count, by: max(batchSize, 1)) {
        let r = start..<min(count, start + batchSize)
        let g = meanLossGradient(r)
        g.scale(by: Float(r.count))
        _ = network.backward(g)
        passes += 1
    }
    return passes
}

/// Classification: CE with the labels, or (with `teacher` logits) KL to the FP32 softmax, label-free.
/// `images`/`labels` are this rank's calibration images, global indices firstImage ..< firstImage + m of
/// `totalImages`; α/β gradients are averaged over the global batch.
public struct ClassificationSearchLoss: SearchLoss {
    public let images: Tensor
    public let labels: [Int]
    public let teacher: Tensor?
    public let firstImage: Int
    public let totalImages: Int
    let reducer: any BatchGradientReducer

    public init(images: Tensor, labels: [Int], teacher: Tensor? = nil, firstImage: Int = 0, totalImages: Int? = nil,
                communicator: any Communicator = SingleProcess()) {
        self.images = images
        self.labels = labels
        self.teacher = teacher
        self.firstImage = firstImage
        self.totalImages = totalImages ?? images.shape[0]
        reducer = communicator.size > 1 ? BucketedGradientReducer(communicator: communicator) : LocalGradientReducer()
    }

    public var name: String { teacher == nil ? "ce" : "kd" }

    public func run(_ search: PTQSearch, progress: @escaping (SearchStepRecord) -> Void) throws -> [SearchStepRecord] {
        try search.run(images: images, labels: labels, teacherLogits: teacher, firstImage: firstImage,
                       totalImages: totalImages, reducer: reducer, progress: progress)
    }

    public func sensitivityPasses(_ network: any UnaryLayer, batchSize: Int) -> Int {
        let ce = SoftmaxCrossEntropy(), kd = DistillationKL()
        return summedLossPasses(network, count: images.shape[0], batchSize: batchSize) { r in
            let x = images.rows(r), logits = network.forward(x)
            if let teacher {
                _ = kd.forward(logits: logits, teacher: teacher.rows(r))
                return kd.backward()
            }
            _ = ce.forward(logits: logits, labels: Array(labels[r]))
            return ce.backward()
        }
    }
}

/// Regression (super-resolution): L1 between the network's output for `inputs` and `targets`, one process.
public struct L1SearchLoss: SearchLoss {
    public let inputs: Tensor
    public let targets: Tensor

    public init(inputs: Tensor, targets: Tensor) {
        self.inputs = inputs
        self.targets = targets
    }

    public var name: String { "l1" }
    public var totalImages: Int { inputs.shape[0] }

    public func run(_ search: PTQSearch, progress: @escaping (SearchStepRecord) -> Void) throws -> [SearchStepRecord] {
        search.run(inputs: inputs, targets: targets, progress: progress)
    }

    public func sensitivityPasses(_ network: any UnaryLayer, batchSize: Int) -> Int {
        let l1 = L1Loss()
        return summedLossPasses(network, count: inputs.shape[0], batchSize: batchSize) { r in
            _ = l1.forward(network.forward(inputs.rows(r)), targets.rows(r))
            return l1.backward()
        }
    }
}

extension Tensor {
    /// A copy of the first-axis slices `r` (rows of a batch).
    func rows(_ r: Range<Int>) -> Tensor {
        let per = shape[0] == 0 ? 0 : count / shape[0]
        let t = Tensor(shape: [r.count] + shape.dropFirst())
        t.data.update(from: data + r.lowerBound * per, count: r.count * per)
        return t
    }
}
