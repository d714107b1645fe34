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

struct ShardImageSource: LabeledImageSource {
    let data: ShardedImageDataset
    let normalization: Normalization
    /// Local images used (the first `count` of this rank's shards).
    let count: Int

    var classCount: Int { data.classes.count }
    var imageShape: [Int] { data.imageShape }

    func fillBatch(_ indices: ArraySlice<Int>, images: Tensor) throws -> [Int] {
        do {
            return try data.fillBatch(indices: Array(indices), into: images, normalization: normalization)
        } catch {
            throw DQSSDataError("rank \(data.rank) of \(data.worldSize): reading shards of \(data.directory.path): \(error)")
        }
    }

    /// The shard set for `split` under `directory` (`<dir>/<split>` when that holds shards, else `<dir>`),
    /// or nil when neither holds shards.
    static func open(directory: URL, split: String, rank: Int, worldSize: Int, normalization: Normalization,
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
