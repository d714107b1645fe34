// ShardedImageDataset: rank r of s reads the shards of a `dqss prepare` directory assigned to it.
//
// The directory listing (names only) must show one complete set, shard-i-of-N.h5 for every i in 0..<N
// and no other N; a missing file is named. Shards go to ranks contiguously by Sharding.range over the
// N shard indices, which needs N >= s; only those files are opened. Their headers must agree (same
// pack_id, N, classes, sizes, crop; shard_index matching the name). Every shard records every shard's
// size, so counts need no communication: `count` is the whole set, `localCount` this rank's images,
// and `imagesPerRank` the smallest rank's share, which a data-parallel epoch must not exceed so that
// every rank runs the same number of steps (with N % s != 0 ranks hold different numbers of shards and
// the larger shares are cut to that length: pack with --shards a multiple of the rank count to avoid it).
//
// Batches: local image i (0..<localCount, shards in order) is read from its shard by hyperslab, RGB
// bytes to [B, 3, C, C] floats through the Normalization table (as CIFAR10Dataset.fillBatch).

import Foundation
import DQSSData
import DQSSHDF5
import DQSSTensor

public final class ShardedImageDataset {
    public let directory: URL
    public let header: ShardSetHeader
    public let rank: Int
    public let worldSize: Int
    /// Indices of the shards this rank reads.
    public let shardIndices: Range<Int>
    /// Labels of the local images, in order.
    public let labels: [Int]

    private let files: [HDF5File]
    private let images: [HDF5ByteRows]
    /// First local image of each local shard (plus the total at the end).
    private let offsets: [Int]

    public var count: Int { header.totalImages }
    public var classes: [String] { header.classes }
    public var localCount: Int { labels.count }
    public var crop: Int { header.crop }
    /// [3, C, C] of one normalised image.
    public var imageShape: [Int] { [3, header.crop, header.crop] }
    /// The images every rank holds at least (see the header comment).
    public var imagesPerRank: Int {
        (0..<worldSize).map { r in
            Sharding.range(count: header.shardCount, rank: r, size: worldSize).reduce(0) { $0 + header.shardSizes[$1] }
        }.min()!
    }

    /// Whether `directory` holds shard files (any), i.e. is meant to be read by this class.
    public static func isShardDirectory(_ directory: URL) -> Bool {
        ((try? ShardFiles.list(directory)) ?? []).isEmpty == false
    }

    public init(directory: URL, rank: Int = 0, worldSize: Int = 1) throws {
        precondition(worldSize >= 1 && rank >= 0 && rank < worldSize, "rank \(rank) of \(worldSize)")
        let listed = try ShardFiles.list(directory)
        guard let first = listed.first else {
            throw ShardError("\(directory.path): no shard files (shard-NNNNN-of-NNNNN.h5); pack an image folder with `dqss prepare`")
        }
        let n = first.count
        if let other = listed.first(where: { $0.count != n }) {
            throw ShardError("\(directory.path): shards of two sets (\(first.url.lastPathComponent) and \(other.url.lastPathComponent)); keep one set per directory")
        }
        let present = Set(listed.map(\.index))
        if let missing = (0..<n).first(where: { !present.contains($0) }) {
            throw ShardError("\(directory.appendingPathComponent(ShardFiles.name(index: missing, count: n)).path) is missing: the set has \(n) shards, \(present.count) found")
        }
        guard n >= worldSize else {
            throw ShardError("\(directory.path): \(n) shards cannot be spread over \(worldSize) ranks; every rank needs at least one shard (pack with --shards a multiple of \(worldSize))")
        }
        let mine = Sharding.range(count: n, rank: rank, size: worldSize)

        var files: [HDF5File] = [], images: [HDF5ByteRows] = [], labels: [Int] = [], offsets = [0]
        var header: ShardSetHeader?
        for index in mine {
            let url = directory.appendingPathComponent(ShardFiles.name(index: index, count: n))
            let file = try HDF5File.open(url)
            let root = try file.root()
            let (h, stored) = try ShardFiles.readHeader(root)
            guard stored == index, h.shardCount == n else {
                throw ShardError("\(url.path): header says shard \(stored) of \(h.shardCount), the name says \(index) of \(n) (renamed file?)")
            }
            if let header, header != h {
                throw ShardError("\(url.path): belongs to another packing than shard \(mine.lowerBound) (pack_id \(h.packID) vs \(header.packID), or different classes / sizes / crop)")
            }
            header = h
            let rows = try root.byteRows("images")
            let size = h.shardSizes[index]
            guard rows.shape == [size, h.crop, h.crop, 3] else {
                throw ShardError("\(url.path): images has shape \(rows.shape), expected [\(size), \(h.crop), \(h.crop), 3]")
            }
            let storedLabels = try root.read("labels", type: "int64", shape: [size]).int64Values!
            if let bad = storedLabels.first(where: { $0 < 0 || $0 >= Int64(h.classes.count) }) {
                throw ShardError("\(url.path): label \(bad) outside 0..<\(h.classes.count)")
            }
            labels += storedLabels.map { Int($0) }
            files.append(file); images.append(rows); offsets.append(offsets.last! + size)
        }
        self.directory = directory
        self.header = header!
        self.rank = rank
        self.worldSize = worldSize
        self.shardIndices = mine
        self.labels = labels
        self.files = files
        self.images = images
        self.offsets = offsets
    }

    /// The uint8 RGB [C, C, 3] bytes of local images `range` (consecutive, any shards).
    public func rawImages(_ range: Range<Int>) throws -> [UInt8] {
        precondition(range.lowerBound >= 0 && range.upperBound <= localCount, "images \(range) outside 0..<\(localCount)")
        let bytes = crop * crop * 3
        var out = [UInt8](repeating: 0, count: range.count * bytes)
        var i = range.lowerBound
        try out.withUnsafeMutableBytes { dst in
            while i < range.upperBound {
                let k = shard(of: i)
                let end = min(range.upperBound, offsets[k + 1])
                let rows = (i - offsets[k])..<(end - offsets[k])
                let at = (i - range.lowerBound) * bytes
                try images[k].read(rows: rows, into: UnsafeMutableRawBufferPointer(rebasing: dst[at..<(at + rows.count * bytes)]))
                i = end
            }
        }
        return out
    }

    /// Resize `batch` to [indices.count, 3, C, C], fill it with local images `indices` normalised
    /// per channel, and return their labels. Runs of consecutive indices are read in one call.
    @discardableResult
    public func fillBatch(indices: [Int], into batch: Tensor, normalization: Normalization) throws -> [Int] {
        precondition(normalization.mean.count == 3, "RGB images need 3-channel normalisation")
        let plane = crop * crop
        batch.resize(to: [indices.count, 3, crop, crop])
        var b = 0
        while b < indices.count {
            var e = b + 1
            while e < indices.count && indices[e] == indices[e - 1] + 1 { e += 1 }
            let raw = try rawImages(indices[b]..<(indices[e - 1] + 1))
            let dst = batch.data
            raw.withUnsafeBufferPointer { src in
                normalization.withTable { table in
                    for j in 0..<(e - b) {
                        let image = dst + (b + j) * 3 * plane
                        let s = src.baseAddress! + j * 3 * plane
                        for c in 0..<3 {
                            let t = table + 256 * c
                            for p in 0..<plane { image[c * plane + p] = t[Int(s[3 * p + c])] }
                        }
                    }
                }
            }
            b = e
        }
        return indices.map { labels[$0] }
    }

    @discardableResult
    public func fillBatch(range: Range<Int>, into batch: Tensor, normalization: Normalization) throws -> [Int] {
        try fillBatch(indices: Array(range), into: batch, normalization: normalization)
    }

    /// The local shard holding local image `i`.
    private func shard(of i: Int) -> Int {
        var lo = 0, hi = offsets.count - 2
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if offsets[mid] <= i { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// Paths in the packed folder of the local images, in order (each shard's `sources`).
    public func localSources() throws -> [String] {
        try files.flatMap { try $0.root().readStrings("sources") }
    }
}
