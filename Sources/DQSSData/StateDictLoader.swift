// StateDictLoader: strict loading of a safetensors checkpoint into a model's named tensors.
//
// Contract: all problems are collected first — names the model expects but the file lacks (missing),
// names the file has but the model does not (unexpected) and names whose shapes differ (wrong shape) —
// and reported together in ONE error naming the file, before a single value is copied. Then every value
// is converted to float32 into a staging tensor and checked: a tensor stored as an integer or BOOL dtype
// (a float parameter cannot be one) or holding NaN/Inf is refused, naming the file and every such tensor.
// Only when all of that passes are the destination tensors overwritten (all or nothing).
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
        var missing: [String] = [], wrongShape: [String] = [], wrongType: [String] = [], ignored: [String] = []
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
            if !info.dtype.isFloatingPoint {
                wrongType.append("\(name) (\(info.dtype.rawValue))")
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
        if !(missing.isEmpty && unexpected.isEmpty && wrongShape.isEmpty && wrongType.isEmpty && duplicates.isEmpty) {
            var lines = ["\(displayName(file.url)): checkpoint does not match the model "
                         + "(\(missing.count) missing, \(unexpected.count) unexpected, \(wrongShape.count) wrong shape"
                         + (wrongType.isEmpty ? "" : ", \(wrongType.count) not a float dtype")
                         + (stripPrefix.map { ", prefix \"\($0)\" stripped" } ?? "") + ")"]
            if !missing.isEmpty { lines.append("  missing in file: " + missing.joined(separator: ", ")) }
            if !unexpected.isEmpty { lines.append("  unexpected in file: " + unexpected.joined(separator: ", ")) }
            if !wrongShape.isEmpty { lines.append("  wrong shape: " + wrongShape.joined(separator: "; ")) }
            if !wrongType.isEmpty { lines.append("  stored as an integer/bool dtype, a float tensor is expected: " + wrongType.joined(separator: ", ")) }
            if !duplicates.isEmpty { lines.append("  duplicate after prefix strip: " + duplicates.joined(separator: ", ")) }
            throw DQSSDataError(lines.joined(separator: "\n"))
        }
        // Stage and check every value before touching the model: NaN/Inf weights would otherwise surface
        // much later as a trap in a calibration histogram or a silent 10 % accuracy.
        var staged: [Tensor] = []
        staged.reserveCapacity(plan.count)
        var nonFinite: [String] = []
        for p in plan {
            let t = try file.tensor(named: p.fileName)
            var bad = 0, first = -1
            for i in 0..<t.count where !t.data[i].isFinite {
                if first < 0 { first = i }
                bad += 1
            }
            if bad > 0 { nonFinite.append("\(p.fileName) (\(bad) of \(t.count) values, first \(t.data[first]) at flat index \(first))") }
            staged.append(t)
        }
        if !nonFinite.isEmpty {
            throw DQSSDataError("\(displayName(file.url)): \(nonFinite.count) tensor(s) hold NaN or Inf, refusing to load: "
                                + nonFinite.joined(separator: "; "))
        }
        for (p, t) in zip(plan, staged) { p.tensor.data.update(from: t.data, count: t.count) }
        return Report(loaded: plan.map(\.name), ignored: ignored)
    }
}
