// LabeledImageSource: a dataset of fixed-size images with integer labels that can fill a batch.
// Training and evaluation loops are written against this, so generated data and CIFAR-10 share them.

import DQSSTensor

public protocol LabeledImageSource {
    /// Number of examples.
    var count: Int { get }
    /// Number of classes (labels are in 0..<classCount).
    var classCount: Int { get }
    /// [C, H, W] of one image.
    var imageShape: [Int] { get }
    /// Resize `images` to [indices.count, C, H, W], fill it with the examples at `indices` (in order)
    /// and return their labels. Throws when an image cannot be read (a damaged shard, an unreadable
    /// file): the caller reports it and stops cleanly instead of training on garbage or trapping.
    func fillBatch(_ indices: ArraySlice<Int>, images: Tensor) throws -> [Int]
}
