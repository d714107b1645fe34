// ShardImageSource: `dqss prepare` shards as the training/evaluation data of `dqss qat` and
// `dqss search --mode qat` (models whose dataset is not CIFAR-10, or any model given a shard directory).
// Under mpirun every rank opens only its own block of shard files (ShardedImageDataset(rank:worldSize:))
// and trains on its first `imagesPerRank` images, so that every rank runs the same number of steps.
// No augmentation (the shards hold centre crops); a read error after the shard set was validated at open
// time (a file changed under a running job) stops the process with a message naming the rank and file.

import Foundation
import DQSSTensor
import DQSSData
import DQSSShards

/// This rank's images of a `dqss prepare` shard set, normalised, as a `LabeledImageSource`.
public struct ShardImageSource: LabeledImageSource {
    public let data: ShardedImageDataset
    public let normalization: Normalization
    /// Local images used (the first `count` of this rank's shards).
    public let count: Int

    public var classCount: Int { data.classes.count }
    public var imageShape: [Int] { data.imageShape }

    /// The first `count` images of this rank's shards of `data`.
    public init(data: ShardedImageDataset, normalization: Normalization, count: Int) {
        self.data = data
        self.normalization = normalization
        self.count = count
    }

    public func fillBatch(_ indices: ArraySlice<Int>, images: Tensor) throws -> [Int] {
        do {
            return try data.fillBatch(indices: Array(indices), into: images, normalization: normalization)
        } catch {
            throw DQSSDataError("rank \(data.rank) of \(data.worldSize): reading shards of \(data.directory.path): \(error)")
        }
    }

    /// The shard set for `split` under `directory` (`<dir>/<split>` when that holds shards, else `<dir>`),
    /// or nil when neither holds shards.
    public static func open(directory: URL, split: String, rank: Int, worldSize: Int, normalization: Normalization,
                     limit: Int? = nil) throws -> ShardImageSource? {
        let sub = directory.appendingPathComponent(split)
        let dir = ShardedImageDataset.isShardDirectory(sub) ? sub
            : ShardedImageDataset.isShardDirectory(directory) ? directory : nil
        guard let dir else { return nil }
        let data = try ShardedImageDataset(directory: dir, rank: rank, worldSize: worldSize)
        var n = worldSize > 1 ? data.imagesPerRank : data.localCount
        if let limit { n = min(n, worldSize > 1 ? limit / worldSize : limit) }
        return ShardImageSource(data: data, normalization: normalization, count: n)
    }
}
