// The losses the α/β search minimises over the calibration data (ALGORITHMS.md §6 step 4): cross-entropy
// with the labels or KL divergence to the FP32 network's softmax for classifiers (data-parallel, each rank
// holding its shard), L1 to a target image for super-resolution (§9 #11). Weights and thresholds stay
// frozen; only α and β move.

import DQSSTensor
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
}
