// ShardPacker: an ImageFolder -> N shard files (ShardFormat), what `dqss prepare` runs.
//
// Order: the folder's sorted items, permuted by RNG(seed).permutation, then cut into N contiguous
// pieces with Sharding.range (equal sizes ±1), so every shard holds a mix of classes and the same
// folder + seed always gives the same shards. Each image: decoded (PNG or JPEG by content), made RGB,
// shorter side resized to `resize`, centre `crop` square (PNGImage.preprocessed), stored as uint8.
// Decoding runs in parallel blocks; the HDF5 writes are sequential.
//
// Nothing half-written is ever visible: every shard is written to `.shard-i-of-N.h5.tmp` in the output
// directory, and only when all N are complete are their headers written (the shard sizes are known only
// then, `--skip-bad` may have dropped images) and each file fsync'ed and renamed into place. Any error
// removes every temporary file of the run.

import Foundation
import DQSSData
import DQSSHDF5
import DQSSTensor

public struct ShardPacker {
    public struct Options: Sendable {
        public var shards: Int
        public var resize = 256
        public var crop = 224
        public var seed: UInt64 = 0
        /// Leave out images that cannot be decoded (listed in the report) instead of stopping.
        public var skipBad = false
        /// Images declaring more pixels (width x height) are refused from their header, before decoding.
        public var maxPixels = PNGImage.defaultMaxPixels
        public init(shards: Int) { self.shards = shards }
    }

    public struct Report: Sendable {
        public var files: [URL]
        public var shardSizes: [Int]
        public var classes: [String]
        /// Images left out with --skip-bad: the decoder's message, which names the file.
        public var skipped: [String]
        /// Non-image files in the folder (not read).
        public var ignoredFiles: Int
        public var packID: String
    }

    /// Pack `folder` into `options.shards` files in `output` (created if needed; it must not hold shard
    /// files already). `progress(done, total)` is called after every block of images.
    public static func pack(_ folder: ImageFolder, to output: URL, options: Options,
                            progress: (Int, Int) -> Void = { _, _ in }) throws -> Report {
        let n = folder.items.count, count = options.shards
        guard count >= 1 else { throw ShardError("--shards must be at least 1 (got \(count))") }
        guard count <= n else {
            throw ShardError("\(folder.root.path): \(n) images cannot fill \(count) shards (--shards at most \(n))")
        }
        guard options.crop >= 1, options.resize >= options.crop else {
            throw ShardError("--size \(options.resize) must be at least --crop \(options.crop) (and --crop at least 1)")
        }
        try prepareOutput(output)

        let permutation = { var rng = RNG(seed: options.seed); return rng.permutation(n) }()
        let order = permutation.map { folder.items[$0] }
        let temporary = (0..<count).map { output.appendingPathComponent("." + ShardFiles.name(index: $0, count: count) + ".tmp") }
        let final = (0..<count).map { output.appendingPathComponent(ShardFiles.name(index: $0, count: count)) }
        do {
            var sizes: [Int] = [], skipped: [String] = []
            var done = 0
            for s in 0..<count {
                let range = Sharding.range(count: n, rank: s, size: count)
                let kept = try writeImages(Array(order[range]), folder: folder, to: temporary[s], options: options,
                                           skipped: &skipped) { done += $0; progress(done, n) }
                guard kept > 0 else {
                    throw ShardError("\(final[s].path): every image of this shard was unreadable (see the skipped list)")
                }
                sizes.append(kept)
            }
            let header = ShardSetHeader(packID: UUID().uuidString, shardCount: count, shardSizes: sizes,
                                        classes: folder.classes, resize: options.resize, crop: options.crop, seed: options.seed)
            for s in 0..<count {
                let file = try HDF5File.open(temporary[s], writable: true)
                try ShardFiles.writeHeader(header, index: s, to: try file.root())
                try file.flush()
                try file.close()
                try fsync(temporary[s])
            }
            for s in 0..<count where rename(temporary[s].path, final[s].path) != 0 {
                throw ShardError("\(final[s].path): rename from \(temporary[s].lastPathComponent) failed: \(String(cString: strerror(errno)))")
            }
            try? fsync(output)
            return Report(files: final, shardSizes: sizes, classes: folder.classes, skipped: skipped,
                          ignoredFiles: folder.ignoredFiles, packID: header.packID)
        } catch {
            for t in temporary { try? FileManager.default.removeItem(at: t) }
            throw error
        }
    }

    /// Create `output` if needed, refuse one that already holds shards (a reader would mix two sets),
    /// and remove temporary files a crashed run left.
    static func prepareOutput(_ output: URL) throws {
        do { try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true) } catch {
            throw ShardError("\(output.path): cannot create the output directory (\(error.localizedDescription))")
        }
        if let existing = try ShardFiles.list(output).first {
            throw ShardError("\(existing.url.path): the output directory already holds shards; remove them or choose another --out")
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: output.path)) ?? []
        where name.hasPrefix(".shard-") && name.hasSuffix(".h5.tmp") {
            try? FileManager.default.removeItem(at: output.appendingPathComponent(name))
        }
    }

    private enum Decoded { case image([UInt8]), bad(String) }

    /// Decode, preprocess and append `items` to a new file at `url`; returns how many were kept.
    private static func writeImages(_ items: [ImageFolder.Item], folder: ImageFolder, to url: URL, options: Options,
                                    skipped: inout [String], advanced: (Int) -> Void) throws -> Int {
        let file = try HDF5File.create(url)
        let root = try file.root()
        let c = options.crop
        let images = try root.createByteRows("images", shape: [0, c, c, 3], rowsPerChunk: 1)
        var labels: [Int64] = [], sources: [String] = []
        let block = max(16, 4 * Threads.count)
        var decoded = [Decoded](repeating: .bad(""), count: block)
        for start in stride(from: 0, to: items.count, by: block) {
            let chunk = items[start..<min(start + block, items.count)]
            decoded.withUnsafeMutableBufferPointer { out in
                runParallel(tasks: chunk.count) { _, t in
                    let item = chunk[chunk.startIndex + t]
                    do {
                        let image = try PNGImage(imageContentsOf: folder.root.appendingPathComponent(item.path),
                                                     maxPixels: options.maxPixels)
                        out[t] = .image(image.preprocessed(resize: options.resize, crop: c).pixels)
                    } catch {
                        out[t] = .bad("\(error)")
                    }
                }
            }
            for (t, item) in chunk.enumerated() {
                switch decoded[t] {
                case let .image(pixels):
                    try pixels.withUnsafeBytes { try images.append($0) }
                    labels.append(Int64(item.label)); sources.append(item.path)
                case let .bad(message):
                    guard options.skipBad else { throw ShardError(message + " (pass --skip-bad to leave such images out)") }
                    skipped.append(message)
                }
            }
            advanced(chunk.count)
        }
        try root.write("labels", .int64(labels))
        try root.writeStrings("sources", sources)
        try file.close()
        return labels.count
    }

    static func fsync(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw ShardError("\(url.path): open for fsync failed: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        #if canImport(Glibc)
        let r = Glibc.fsync(fd)
        #else
        let r = Darwin.fsync(fd)
        #endif
        guard r == 0 else { throw ShardError("\(url.path): fsync failed: \(String(cString: strerror(errno)))") }
    }
}
