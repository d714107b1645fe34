// CIFAR10Dataset: CIFAR-10 records held compactly as uint8 in memory, turned into normalised float NCHW
// batches on demand.
//
// Record format (official binary version): 1 label byte, then 1024 R, 1024 G, 1024 B bytes, each plane
// 32x32 row-major (3073 bytes); or 3072 pixel bytes when the labels live in a separate file.
// Contract: a file whose size is not a whole number of records, a label outside 0...9, a record count
// different from the manifest's, a label file shorter than the records, or a requested range outside the
// split throws a DQSSDataError naming the file. `init(split:range:)` reads only the records of `range`
// from disk (each MPI rank reads its own shard); `firstIndex` keeps the global index of local record 0.

import DQSSTensor
import Foundation

public struct CIFAR10Dataset: Sendable {
    public static let height = 32, width = 32, channels = 3, classes = 10
    public static let imageBytes = 3072

    /// Name used in messages ("test", "train", or a file name).
    public let name: String
    /// Number of records held.
    public let count: Int
    /// Global index (within the whole split) of local record 0.
    public let firstIndex: Int
    /// Total number of records in the whole split (not only the range held).
    public let splitCount: Int
    /// Labels 0...9, one per record.
    public let labels: [Int]
    /// Pixels, `count` x 3072 bytes, each image as R, G, B planes of 32x32.
    public let pixels: [UInt8]

    /// An in-memory dataset (tests, generated data). `pixels.count` must be `labels.count * 3072`.
    public init(name: String, labels: [Int], pixels: [UInt8], firstIndex: Int = 0, splitCount: Int? = nil) {
        precondition(pixels.count == labels.count * Self.imageBytes, "pixels must hold 3072 bytes per label")
        self.name = name; self.labels = labels; self.pixels = pixels; self.count = labels.count
        self.firstIndex = firstIndex; self.splitCount = splitCount ?? labels.count
    }

    /// Read a split of a data directory (manifest.json or standard names), optionally only `range`.
    public init(directory: URL, split: String = "test", range: Range<Int>? = nil) throws {
        let manifest = try CIFAR10Manifest(directory: directory)
        try self.init(split: try manifest.split(split), range: range)
    }

    /// Read only this rank's shard of a split (`Sharding.range` over the split's record count).
    public init(directory: URL, split: String, rank: Int, size: Int) throws {
        let s = try CIFAR10Manifest(directory: directory).split(split)
        let total = try Self.recordCount(of: s)
        try self.init(split: s, range: Sharding.range(count: total, rank: rank, size: size))
    }

    /// Number of records in a split, from the file sizes (nothing is read).
    public static func recordCount(of split: CIFAR10Split) throws -> Int {
        try recordCounts(split.files, recordBytes: split.recordBytes).reduce(0, +)
    }

    static func recordCounts(_ files: [URL], recordBytes: Int) throws -> [Int] {
        try files.map { url in
            let size: Int
            do {
                let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
                size = (attributes[.size] as? NSNumber)?.intValue ?? -1
            } catch {
                throw DQSSDataError("\(url.path): cannot open CIFAR-10 record file (\(error.localizedDescription))")
            }
            guard size >= 0, size % recordBytes == 0 else {
                throw DQSSDataError("\(url.path): size \(size) bytes is not a multiple of the \(recordBytes)-byte CIFAR-10 record "
                                    + "(\(size / max(recordBytes, 1)) whole records + \(size % recordBytes) bytes; truncated or wrong format)")
            }
            return size / recordBytes
        }
    }

    /// Read the records of `range` (default: all) of a split.
    public init(split: CIFAR10Split, range: Range<Int>? = nil) throws {
        try self.init(files: split.files, labelFile: split.labelFile, recordBytes: split.recordBytes,
                      declaredRecords: split.declaredRecords, range: range, name: split.name)
    }

    /// Read records from any number of record files, concatenated in order.
    public init(files: [URL], labelFile: URL? = nil, recordBytes: Int = 3073, declaredRecords: Int? = nil,
                range: Range<Int>? = nil, name: String? = nil) throws {
        precondition(recordBytes == 3073 || recordBytes == 3072, "record size must be 3073 or 3072")
        let name = name ?? files.first?.lastPathComponent ?? "cifar10"
        let hasLabelByte = recordBytes == 3073
        guard hasLabelByte || labelFile != nil else {
            throw DQSSDataError("\(name): 3072-byte records carry no labels; a label file is needed")
        }
        let perFile = try Self.recordCounts(files, recordBytes: recordBytes)
        let total = perFile.reduce(0, +)
        if let d = declaredRecords, d != total {
            throw DQSSDataError("split \"\(name)\": manifest declares \(d) records but the files hold \(total) "
                                + "(\(zip(files, perFile).map { "\($0.0.path): \($0.1)" }.joined(separator: ", ")))")
        }
        let range = range ?? 0..<total
        guard range.lowerBound >= 0, range.upperBound <= total else {
            throw DQSSDataError("split \"\(name)\": record range \(range) outside 0..<\(total)")
        }

        var pixels = [UInt8](repeating: 0, count: range.count * Self.imageBytes)
        var labels = [Int](repeating: 0, count: range.count)
        var fileStart = 0
        for (url, n) in zip(files, perFile) {
            defer { fileStart += n }
            let lo = max(range.lowerBound, fileStart), hi = min(range.upperBound, fileStart + n)
            if lo >= hi { continue }
            let chunk = try Self.readBytes(url, offset: (lo - fileStart) * recordBytes, count: (hi - lo) * recordBytes)
            chunk.withUnsafeBytes { raw in
                let src = raw.bindMemory(to: UInt8.self)
                for r in 0..<(hi - lo) {
                    let local = lo - range.lowerBound + r
                    let rec = r * recordBytes
                    if hasLabelByte { labels[local] = Int(src[rec]) }
                    let pix = rec + (hasLabelByte ? 1 : 0)
                    pixels.withUnsafeMutableBufferPointer { dst in
                        (dst.baseAddress! + local * Self.imageBytes).update(from: src.baseAddress! + pix, count: Self.imageBytes)
                    }
                }
            }
            if hasLabelByte, let bad = labels[(lo - range.lowerBound)..<(hi - range.lowerBound)].firstIndex(where: { $0 >= Self.classes }) {
                let record = bad + range.lowerBound - fileStart
                throw DQSSDataError("\(url.path): record \(record) has label \(labels[bad]), not a CIFAR-10 class 0...9 (wrong format?)")
            }
        }
        if let labelFile {
            let size = ((try? FileManager.default.attributesOfItem(atPath: labelFile.path))?[.size] as? NSNumber)?.intValue ?? -1
            guard size >= total else {
                throw DQSSDataError("\(labelFile.path): label file has \(max(size, 0)) bytes (or cannot be read), the split has \(total) records")
            }
            let bytes = try Self.readBytes(labelFile, offset: range.lowerBound, count: range.count)
            for (i, b) in bytes.enumerated() {
                let label = Int(b)
                guard label < Self.classes else {
                    throw DQSSDataError("\(labelFile.path): label \(label) of record \(range.lowerBound + i) is not a CIFAR-10 class 0...9")
                }
                if hasLabelByte, labels[i] != label {
                    throw DQSSDataError("\(labelFile.path): label \(label) of record \(range.lowerBound + i) disagrees with the record's own label byte \(labels[i])")
                }
                labels[i] = label
            }
        }
        self.init(name: name, labels: labels, pixels: pixels, firstIndex: range.lowerBound, splitCount: total)
    }

    /// Read exactly `count` bytes at `offset`; a short read is an error naming the file.
    static func readBytes(_ url: URL, offset: Int, count: Int) throws -> Data {
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            try handle.seek(toOffset: UInt64(offset))
            let data = try handle.read(upToCount: count) ?? Data()
            guard data.count == count else {
                throw DQSSDataError("\(url.path): expected \(count) bytes at offset \(offset), got \(data.count) (file changed or truncated)")
            }
            return data
        } catch let e as DQSSDataError {
            throw e
        } catch {
            throw DQSSDataError("\(url.path): read failed (\(error.localizedDescription))")
        }
    }

    /// Records `range` of this dataset as a new dataset (in memory; the global indices are kept).
    public func subset(_ range: Range<Int>) -> CIFAR10Dataset {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "subset \(range) outside 0..<\(count)")
        return CIFAR10Dataset(name: name, labels: Array(labels[range]),
                              pixels: Array(pixels[range.lowerBound * Self.imageBytes ..< range.upperBound * Self.imageBytes]),
                              firstIndex: firstIndex + range.lowerBound, splitCount: splitCount)
    }

    /// Label histogram over classes 0...9.
    public var labelHistogram: [Int] {
        var h = [Int](repeating: 0, count: Self.classes)
        for l in labels { h[l] += 1 }
        return h
    }

    // MARK: - Batches

    /// Fill `batch` (resized to [indices.count, 3, 32, 32]) with the normalised images `indices` (local
    /// record numbers) and return their labels. With `augmentation`, each image is flipped/cropped as
    /// drawn for (epoch, global index), so the result does not depend on batch composition or sharding.
    @discardableResult
    public func fillBatch(indices: [Int], into batch: Tensor, normalization: Normalization,
                          augmentation: Augmentation? = nil, epoch: Int = 0) -> [Int] {
        batch.resize(to: [indices.count, Self.channels, Self.height, Self.width])
        var out = [Int](repeating: 0, count: indices.count)
        let dst = batch.data
        pixels.withUnsafeBufferPointer { px in
            normalization.withTable { table in
                for (b, i) in indices.enumerated() {
                    precondition(i >= 0 && i < count, "record \(i) outside 0..<\(count) of \(name)")
                    out[b] = labels[i]
                    let src = px.baseAddress! + i * Self.imageBytes
                    let image = dst + b * Self.imageBytes
                    if let augmentation {
                        let p = augmentation.parameters(epoch: epoch, index: firstIndex + i)
                        Augmentation.apply(p, source: src, table: table, destination: image)
                    } else {
                        for c in 0..<Self.channels {
                            let t = table + 256 * c
                            for k in 0..<1024 { image[c * 1024 + k] = t[Int(src[c * 1024 + k])] }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Fill `batch` with local records `range` (no augmentation), e.g. for evaluation.
    @discardableResult
    public func fillBatch(range: Range<Int>, into batch: Tensor, normalization: Normalization) -> [Int] {
        fillBatch(indices: Array(range), into: batch, normalization: normalization)
    }
}
