// StateDictLoader: strict loading of a safetensors checkpoint into a model's named tensors.
//
// Contract: all problems are collected first — names the model expects but the file lacks (missing),
// names the file has but the model does not (unexpected) and names whose shapes differ (wrong shape) —
// and reported together in ONE error naming the file, before a single value is copied. Only when there
// is nothing to report are the values converted to float32 and copied into the destination tensors.
// DQSSData does not know layers: callers pass `model.namedParameters()` + `model.namedBuffers()` as
// plain (name, tensor) pairs.

import DQSSTensor
import Foundation

public struct StateDictLoader: Sendable {
    /// Prefix removed from file names that carry it, e.g. "module." from nn.DataParallel checkpoints.
    public var stripPrefix: String?
    /// Exact names (after prefix stripping) that may be absent on either side.
    public var ignoredNames: Set<String>
    /// Name suffixes that may be absent on either side, e.g. "num_batches_tracked" (an int64 counter
    /// that PyTorch BatchNorm stores but inference does not use).
    public var ignoredSuffixes: [String]

    public init(stripPrefix: String? = nil, ignoredNames: Set<String> = [],
                ignoredSuffixes: [String] = ["num_batches_tracked"]) {
        self.stripPrefix = stripPrefix
        self.ignoredNames = ignoredNames
        self.ignoredSuffixes = ignoredSuffixes
    }

    /// What a successful load did.
    public struct Report: Sendable {
        /// Destination names that were filled.
        public var loaded: [String]
        /// Names skipped because they matched `ignoredNames`/`ignoredSuffixes` (file or model side).
        public var ignored: [String]
    }

    func isIgnorable(_ name: String) -> Bool {
        ignoredNames.contains(name) || ignoredSuffixes.contains { name.hasSuffix($0) }
    }

    func modelName(forFileName name: String) -> String {
        if let p = stripPrefix, !p.isEmpty, name.hasPrefix(p) { return String(name.dropFirst(p.count)) }
        return name
    }

    /// Check, then copy. Throws one DQSSDataError listing every missing, unexpected and wrong-shape tensor.
    @discardableResult
    public func load(_ file: SafetensorsFile, into destinations: [(name: String, tensor: Tensor)]) throws -> Report {
        var fileNameFor: [String: String] = [:]   // model name -> name in file
        var duplicates: [String] = []
        for name in file.names {
            let m = modelName(forFileName: name)
            if let other = fileNameFor[m] { duplicates.append("\(m) (from \"\(other)\" and \"\(name)\")") }
            fileNameFor[m] = name
        }
        var missing: [String] = [], wrongShape: [String] = [], ignored: [String] = []
        var plan: [(fileName: String, tensor: Tensor, name: String)] = []
        var wanted = Set<String>()
        for (name, tensor) in destinations {
            wanted.insert(name)
            // Ignorable names (BatchNorm's step counter) are never loaded, so their shape in the file (a scalar
            // in PyTorch) cannot make an otherwise matching checkpoint fail.
            if isIgnorable(name) { ignored.append(name); continue }
            guard let fname = fileNameFor[name], let info = file.info(named: fname) else {
                missing.append("\(name) \(tensor.shape)")
                continue
            }
            if info.shape != tensor.shape {
                wrongShape.append("\(name): file \(info.shape) (\(info.dtype.rawValue)), model \(tensor.shape)")
                continue
            }
            plan.append((fname, tensor, name))
        }
        var unexpected: [String] = []
        for name in file.names {
            let m = modelName(forFileName: name)
            if wanted.contains(m) { continue }
            if isIgnorable(m) { ignored.append(m); continue }
            let info = file.info(named: name)!
            unexpected.append("\(name) \(info.shape)")
        }
        if !(missing.isEmpty && unexpected.isEmpty && wrongShape.isEmpty && duplicates.isEmpty) {
            var lines = ["\(displayName(file.url)): checkpoint does not match the model "
                         + "(\(missing.count) missing, \(unexpected.count) unexpected, \(wrongShape.count) wrong shape"
                         + (stripPrefix.map { ", prefix \"\($0)\" stripped" } ?? "") + ")"]
            if !missing.isEmpty { lines.append("  missing in file: " + missing.joined(separator: ", ")) }
            if !unexpected.isEmpty { lines.append("  unexpected in file: " + unexpected.joined(separator: ", ")) }
            if !wrongShape.isEmpty { lines.append("  wrong shape: " + wrongShape.joined(separator: "; ")) }
            if !duplicates.isEmpty { lines.append("  duplicate after prefix strip: " + duplicates.joined(separator: ", ")) }
            throw DQSSDataError(lines.joined(separator: "\n"))
        }
        for p in plan { try file.read(named: p.fileName, into: p.tensor) }
        return Report(loaded: plan.map(\.name), ignored: ignored)
    }
}
