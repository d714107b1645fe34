// CIFAR10Manifest: which files make up which split of a CIFAR-10 data directory.
//
// `DIR/manifest.json`, when present, names the splits:
//   {"record_bytes": 3073, "classes_file": "batches.meta.txt",
//    "splits": {"test": {"files": ["test_batch.bin"], "records": 10000, "labels": "optional.u8"}, ...}}
// `record_bytes` is 3073 (1 label byte + 3072 pixel bytes, the official binary format) or 3072 (pixels
// only; then every split needs a `labels` file). `records`, when given, must equal the total found.
// A split's `labels` file holds one raw byte per record (in record order, at least as many as records).
// Without a manifest the official file names are used: split "test" = test_batch.bin and "train" =
// data_batch_1.bin ... data_batch_5.bin (those that exist; "train" needs at least one).

import Foundation

public struct CIFAR10Split: Sendable, Equatable {
    public let name: String
    public let files: [URL]
    /// Optional separate label file (one byte per record).
    public let labelFile: URL?
    /// Record count declared by the manifest, checked against the files when the dataset is read.
    public let declaredRecords: Int?
    /// 3073 (label byte + pixels) or 3072 (pixels only).
    public let recordBytes: Int
}

public struct CIFAR10Manifest: Sendable {
    public static let imageBytes = 3072
    public static let standardRecordBytes = 3073

    public let directory: URL
    /// Split name -> split. `splitNames` lists them sorted.
    public let splits: [String: CIFAR10Split]
    /// Class names (airplane ... truck) from `classes_file` / `batches.meta.txt`, if present.
    public let classNames: [String]?
    /// True when the splits came from DIR/manifest.json, false for the standard file names.
    public let fromManifestFile: Bool

    public var splitNames: [String] { splits.keys.sorted() }

    /// Read DIR/manifest.json, or fall back to the standard CIFAR-10 binary file names.
    public init(directory: URL) throws {
        self.directory = directory
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw DQSSDataError("\(directory.path): CIFAR-10 data directory does not exist")
        }
        let manifestURL = directory.appendingPathComponent("manifest.json")
        if fm.fileExists(atPath: manifestURL.path) {
            (splits, classNames) = try Self.parse(manifestURL, directory: directory)
            fromManifestFile = true
        } else {
            var s: [String: CIFAR10Split] = [:]
            let test = directory.appendingPathComponent("test_batch.bin")
            if fm.fileExists(atPath: test.path) {
                s["test"] = CIFAR10Split(name: "test", files: [test], labelFile: nil, declaredRecords: nil,
                                         recordBytes: Self.standardRecordBytes)
            }
            let train = (1...5).map { directory.appendingPathComponent("data_batch_\($0).bin") }
                .filter { fm.fileExists(atPath: $0.path) }
            if !train.isEmpty {
                s["train"] = CIFAR10Split(name: "train", files: train, labelFile: nil, declaredRecords: nil,
                                          recordBytes: Self.standardRecordBytes)
            }
            guard !s.isEmpty else {
                throw DQSSDataError("\(directory.path): no manifest.json and none of the standard CIFAR-10 files "
                                    + "(test_batch.bin, data_batch_1.bin ... data_batch_5.bin)")
            }
            splits = s
            classNames = Self.readClassNames(directory.appendingPathComponent("batches.meta.txt"))
            fromManifestFile = false
        }
    }

    /// The named split, or an error listing the available ones.
    public func split(_ name: String) throws -> CIFAR10Split {
        guard let s = splits[name] else {
            let source = fromManifestFile ? "manifest.json" : "standard file names"
            throw DQSSDataError("\(directory.path): unknown split \"\(name)\" (available from \(source): \(splitNames.joined(separator: ", ")))")
        }
        return s
    }

    private static func parse(_ url: URL, directory: URL) throws -> ([String: CIFAR10Split], [String]?) {
        let file = url.path
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        } catch {
            throw DQSSDataError("\(file): not valid JSON (\(error.localizedDescription))")
        }
        guard let root = json as? [String: Any] else { throw DQSSDataError("\(file): top level is not an object") }
        if let format = root["format"] as? String, format != "cifar10-binary" {
            throw DQSSDataError("\(file): format \"\(format)\" is not \"cifar10-binary\"")
        }
        var recordBytes = standardRecordBytes
        if let rb = root["record_bytes"] {
            guard let r = rb as? Int, r == 3073 || r == 3072 else {
                throw DQSSDataError("\(file): record_bytes must be 3073 (label + image) or 3072 (image only)")
            }
            recordBytes = r
        }
        guard let splitsJSON = root["splits"] as? [String: Any], !splitsJSON.isEmpty else {
            throw DQSSDataError("\(file): missing or empty \"splits\" object")
        }
        var splits: [String: CIFAR10Split] = [:]
        for (name, value) in splitsJSON {
            guard let s = value as? [String: Any] else { throw DQSSDataError("\(file): split \"\(name)\" is not an object") }
            guard let files = s["files"] as? [String], !files.isEmpty else {
                throw DQSSDataError("\(file): split \"\(name)\" needs a non-empty \"files\" list of strings")
            }
            var records: Int? = nil
            if let r = s["records"] {
                guard let n = r as? Int, n >= 0 else { throw DQSSDataError("\(file): split \"\(name)\": \"records\" is not a count") }
                records = n
            }
            var labels: URL? = nil
            if let l = s["labels"] {
                guard let path = l as? String else { throw DQSSDataError("\(file): split \"\(name)\": \"labels\" is not a file name") }
                labels = directory.appendingPathComponent(path)
            }
            if recordBytes == imageBytes && labels == nil {
                throw DQSSDataError("\(file): split \"\(name)\": record_bytes 3072 (no label byte) needs a \"labels\" file")
            }
            splits[name] = CIFAR10Split(name: name, files: files.map { directory.appendingPathComponent($0) },
                                        labelFile: labels, declaredRecords: records, recordBytes: recordBytes)
        }
        let classes = (root["classes_file"] as? String).flatMap { readClassNames(directory.appendingPathComponent($0)) }
        return (splits, classes)
    }

    private static func readClassNames(_ url: URL) -> [String]? {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return nil }
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return names.isEmpty ? nil : names
    }
}
