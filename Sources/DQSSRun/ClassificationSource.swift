// ClassificationSource: labelled, normalised image batches for `dqss eval`, `dqss ptq` and the PTQ search,
// whatever the dataset.
// CIFAR-10 (a directory with manifest.json and binary records, read by DQSSData) for cifar10 models;
// for any other dataset (ImageNet), a directory of `dqss prepare` shards: `<dir>/<split>` when that
// holds shards (pack train/ and val/ into out/train and out/val), else `<dir>` itself. This process
// reads every shard (rank 0 of 1): the commands using this source run on one rank.

import Foundation
import DQSSTensor
import DQSSData
import DQSSModels
import DQSSShards

/// Labelled, normalised images of one split, read batch by batch (the tensor returned by `batch` is reused:
/// copy it to keep it past the next call).
public struct ClassificationSource {
    /// Number of images in the split.
    public let count: Int
    /// [C, H, W] of one image.
    public let imageShape: [Int]
    /// Normalised images [B, C, H, W] and labels for images `range` of the split.
    public let batch: (Range<Int>) throws -> (images: Tensor, labels: [Int])
    /// The normalisation the images were made with (nil: unknown, e.g. a source built by hand); what
    /// turns them back into bytes (the PTQ search's JPEG round trip of its validation images).
    public let normalization: Normalization?

    /// A source from its size, image shape and batch reader.
    public init(count: Int, imageShape: [Int], normalization: Normalization? = nil,
                batch: @escaping (Range<Int>) throws -> (images: Tensor, labels: [Int])) {
        self.count = count
        self.imageShape = imageShape
        self.normalization = normalization
        self.batch = batch
    }

    /// The split `split` of `directory`: `dqss prepare` shards wherever they are (`<directory>/<split>` when
    /// that holds shards, else `<directory>`), for any model (a CIFAR model takes 32x32 shards, as `dqss qat`
    /// does); otherwise CIFAR-10 records for `dataset == "cifar10"`. Throws when neither fits.
    public static func open(dataset: String, directory: URL, split: String, normalization: Normalization) throws
        -> ClassificationSource {
        let splitDirectory = directory.appendingPathComponent(split)
        let hasShards = ShardedImageDataset.isShardDirectory(splitDirectory) || ShardedImageDataset.isShardDirectory(directory)
        switch dataset {
        case "cifar10" where hasShards:
            let source = try open(dataset: "shards", directory: directory, split: split, normalization: normalization)
            guard source.imageShape == [3, 32, 32] else {
                throw ModelError("\(directory.path): the shards hold \(source.imageShape) images, a CIFAR-10 model takes [3, 32, 32] (pack with `dqss prepare --size 32 --crop 32`)")
            }
            return source
        case "cifar10":
            let data = try CIFAR10Dataset(directory: directory, split: split)
            let images = Tensor(shape: [0])   // reused batch after batch
            return ClassificationSource(count: data.count, imageShape: [3, 32, 32], normalization: normalization) { range in
                let labels = data.fillBatch(range: range, into: images, normalization: normalization)
                return (images, labels)
            }
        default:
            let shards = ShardedImageDataset.isShardDirectory(splitDirectory) ? splitDirectory : directory
            guard ShardedImageDataset.isShardDirectory(shards) else {
                throw ModelError("\(directory.path): no \(dataset) shards (shard-NNNNN-of-NNNNN.h5) in it or in its \(split)/ sub-folder; pack the image folder with `dqss prepare`")
            }
            let data = try ShardedImageDataset(directory: shards)
            let images = Tensor(shape: [0])
            return ClassificationSource(count: data.count, imageShape: data.imageShape, normalization: normalization) { range in
                let labels = try data.fillBatch(range: range, into: images, normalization: normalization)
                return (images, labels)
            }
        }
    }
}

extension ClassificationSource {
    /// Normalised images and labels of the split at `indices`, as one tensor [n, C, H, W].
    public func gather(_ indices: [Int]) throws -> (images: Tensor, labels: [Int]) {
        let per = imageShape.reduce(1, *)
        let t = Tensor(shape: [indices.count] + imageShape)
        var labels: [Int] = []
        for (k, i) in indices.enumerated() {
            let (image, label) = try batch(i..<(i + 1))
            (t.data + k * per).update(from: image.data, count: per)
            labels.append(label[0])
        }
        return (t, labels)
    }

    /// `images` [n, ...] cut into consecutive batches of at most `size`.
    public static func batches(of images: Tensor, size: Int) -> [Tensor] {
        let n = images.shape.first ?? 0, per = n == 0 ? 0 : images.count / n
        return stride(from: 0, to: n, by: size).map { lo in
            let hi = min(lo + size, n)
            let t = Tensor(shape: [hi - lo] + images.shape.dropFirst())
            t.data.update(from: images.data + lo * per, count: (hi - lo) * per)
            return t
        }
    }
}
