// ShardFormat: the on-disk layout of `dqss prepare` image shards (docs in README "Data parallelism").
//
// One HDF5 file per shard, `shard-00003-of-00008.h5`, holding at its root:
//   images        uint8 [n, C, C, 3]  RGB, interleaved (NHWC, as PIL / NumPy hold images: h5py users can
//                                     look at images[i] directly); readers transpose to [3, C, C] floats
//   labels        int64 [n]           class index into `classes`
//   sources       string [n]          path of each image relative to the packed folder
//   classes       string [K]          sorted class sub-folder names (the same in every shard)
//   shard_sizes   int64 [N]           images in every shard of the set, so a rank that opens only its own
//                                     shards still knows the global count and every rank's share
//   attributes    format, format_version, pack_id (unique per `dqss prepare` run), shard_index,
//                 shard_count, total_images, resize (S), crop (C), resize_filter, seed
// Shards hold equal numbers of images (±1) unless `--skip-bad` dropped some.

import Foundation
import DQSSHDF5

public struct ShardError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// What every shard of one set records about the set (all but the per-shard index).
public struct ShardSetHeader: Sendable, Equatable {
    public static let formatName = "dqss-image-shards"
    public static let formatVersion: Int64 = 1
    public static let resizeFilter = "bilinear-antialiased"

    public var packID: String
    public var shardCount: Int
    public var shardSizes: [Int]
    public var classes: [String]
    public var resize: Int
    public var crop: Int
    public var seed: UInt64

    public var totalImages: Int { shardSizes.reduce(0, +) }

    public init(packID: String, shardCount: Int, shardSizes: [Int], classes: [String], resize: Int, crop: Int, seed: UInt64) {
        self.packID = packID; self.shardCount = shardCount; self.shardSizes = shardSizes; self.classes = classes
        self.resize = resize; self.crop = crop; self.seed = seed
    }
}

public enum ShardFiles {
    /// "shard-00003-of-00008.h5" (indices from 0).
    public static func name(index: Int, count: Int) -> String {
        "shard-" + pad(index) + "-of-" + pad(count) + ".h5"
    }

    private static func pad(_ i: Int) -> String {
        let s = String(i)
        return String(repeating: "0", count: max(0, 5 - s.count)) + s
    }

    /// (index, count) of a shard file name; nil for any other name.
    public static func parse(_ name: String) -> (index: Int, count: Int)? {
        guard name.hasPrefix("shard-"), name.hasSuffix(".h5") else { return nil }
        let core = name.dropFirst("shard-".count).dropLast(".h5".count)
        let parts = core.components(separatedBy: "-of-")
        guard parts.count == 2, parts.allSatisfy({ $0.count >= 5 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i < n else { return nil }
        return (i, n)
    }

    /// Shard files in `directory`, as (index, count, url), sorted by name.
    public static func list(_ directory: URL) throws -> [(index: Int, count: Int, url: URL)] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
            throw ShardError("\(directory.path): cannot list the shard directory (\(error.localizedDescription))")
        }
        return names.sorted().compactMap { name in
            parse(name).map { ($0.index, $0.count, directory.appendingPathComponent(name)) }
        }
    }

    // MARK: - Header I/O

    static func writeHeader(_ h: ShardSetHeader, index: Int, to root: HDF5Group) throws {
        try root.setAttribute("format", ShardSetHeader.formatName)
        try root.setAttribute("format_version", ShardSetHeader.formatVersion)
        try root.setAttribute("pack_id", h.packID)
        try root.setAttribute("shard_index", Int64(index))
        try root.setAttribute("shard_count", Int64(h.shardCount))
        try root.setAttribute("total_images", Int64(h.totalImages))
        try root.setAttribute("resize", Int64(h.resize))
        try root.setAttribute("crop", Int64(h.crop))
        try root.setAttribute("resize_filter", ShardSetHeader.resizeFilter)
        try root.setAttribute("seed", Int64(bitPattern: h.seed))
        try root.writeStrings("classes", h.classes)
        try root.write("shard_sizes", .int64(h.shardSizes.map(Int64.init)))
    }

    /// The set header and this file's shard index; a file of another format or version is refused.
    static func readHeader(_ root: HDF5Group) throws -> (header: ShardSetHeader, index: Int) {
        let path = root.file.path
        guard root.hasAttribute("format"), try root.stringAttribute("format") == ShardSetHeader.formatName else {
            throw ShardError("\(path): not a \(ShardSetHeader.formatName) file (no or another 'format' attribute)")
        }
        let version = try root.int64Attribute("format_version")
        guard version == ShardSetHeader.formatVersion else {
            throw ShardError("\(path): shard format version \(version), this dqss reads version \(ShardSetHeader.formatVersion)")
        }
        let sizes = try root.read("shard_sizes", type: "int64").int64Values!.map { Int($0) }
        let h = ShardSetHeader(packID: try root.stringAttribute("pack_id"),
                               shardCount: Int(try root.int64Attribute("shard_count")),
                               shardSizes: sizes,
                               classes: try root.readStrings("classes"),
                               resize: Int(try root.int64Attribute("resize")),
                               crop: Int(try root.int64Attribute("crop")),
                               seed: UInt64(bitPattern: try root.int64Attribute("seed")))
        let total = Int(try root.int64Attribute("total_images"))
        guard sizes.count == h.shardCount, total == h.totalImages, h.crop > 0, !h.classes.isEmpty else {
            throw ShardError("\(path): inconsistent header (shard_count \(h.shardCount), \(sizes.count) shard sizes, "
                             + "total_images \(total) vs their sum \(h.totalImages), crop \(h.crop), \(h.classes.count) classes)")
        }
        return (h, Int(try root.int64Attribute("shard_index")))
    }
}
