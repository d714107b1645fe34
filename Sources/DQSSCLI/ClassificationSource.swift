// ClassificationSource: labelled, normalised image batches for `dqss eval`, whatever the dataset.
// CIFAR-10 (a directory with manifest.json and binary records, read by DQSSData) is the one supported
// today; ImageNet models can be built and loaded, but there is no ImageNet reader yet, which is
// reported as an error naming the model's dataset.

import Foundation
import DQSSTensor
import DQSSData
import DQSSModels

struct ClassificationSource {
    /// Number of images in the split.
    let count: Int
    /// [C, H, W] of one image.
    let imageShape: [Int]
    /// Normalised images [B, C, H, W] and labels for images `range` of the split.
    let batch: (Range<Int>) throws -> (images: Tensor, labels: [Int])

    static func open(dataset: String, directory: URL, split: String, normalization: Normalization) throws
        -> ClassificationSource {
        switch dataset {
        case "cifar10":
            let data = try CIFAR10Dataset(directory: directory, split: split)
            let images = Tensor(shape: [0])   // reused batch after batch
            return ClassificationSource(count: data.count, imageShape: [3, 32, 32]) { range in
                let labels = data.fillBatch(range: range, into: images, normalization: normalization)
                return (images, labels)
            }
        default:
            throw ModelError("no \(dataset) reader yet: `dqss eval` evaluates CIFAR-10 models only")
        }
    }
}
