// CheckpointReader: read a checkpoint file back into a `Checkpoint`, and check that it belongs to the
// run that wants to resume from it. Every failure is a CheckpointError naming the file (and the object
// inside it for a missing or damaged dataset).

import Foundation

public enum CheckpointReader {
    /// Verify the seal, then open `url` and check the format name and version; returns the model name.
    public static func header(_ url: URL) throws -> String {
        _ = try CheckpointSeal.verify(url)
        do {
            let file = try HDF5File.open(url)
            defer { try? file.close() }
            return try CheckpointLayout.readHeader(try file.root(), path: url.path).model
        } catch let e as HDF5Error {
            throw CheckpointError(.unreadable, file: url.path, unreadableMessage(e))
        }
    }

    /// Read the whole checkpoint (the seal verified first: see `readChecked`).
    public static func read(_ url: URL) throws -> Checkpoint { try readChecked(url).checkpoint }

    /// Verify the whole-file digest before HDF5 parses anything, then read every section. A sealed file
    /// with any damage is refused (`.unreadable`, naming the file); a `.legacy` file (written by dqss
    /// before the seal) has nothing to verify against, and the caller should say so.
    public static func readChecked(_ url: URL) throws -> (checkpoint: Checkpoint, seal: CheckpointSeal.Status) {
        let status = try CheckpointSeal.verify(url)
        do {
            let file = try HDF5File.open(url)
            defer { try? file.close() }
            return (try CheckpointLayout.read(from: file), status)
        } catch let e as HDF5Error {
            throw CheckpointError(.unreadable, file: url.path, unreadableMessage(e))
        }
    }

    /// The warning for a legacy file, or nil.
    public static func warning(_ status: CheckpointSeal.Status, file: String) -> String? {
        status == .legacy ? "warning: checkpoint \(file) carries no digest (written by an older dqss): damage in it may go unnoticed" : nil
    }

    static func unreadableMessage(_ e: HDF5Error) -> String {
        e.object.isEmpty ? "\(e.operation) failed: \(e.detail)" : "'\(e.object)': \(e.operation) failed: \(e.detail)"
    }
}

/// What the resuming run is, to compare with what the checkpoint was.
public struct CheckpointExpectation: Sendable {
    public var model: String
    /// nil: any task.
    public var task: String?
    /// Candidate names in branch order (nil: not a search run / not checked).
    public var candidates: [String]?
    /// Per quantized layer, in module order (nil: not checked).
    public var layerBits: [(name: String, weightBits: Int, activationBits: Int)]?
    /// Samples per step over all ranks (nil: not checked).
    public var globalBatch: Int?

    public init(model: String, task: String? = nil, candidates: [String]? = nil,
                layerBits: [(name: String, weightBits: Int, activationBits: Int)]? = nil, globalBatch: Int? = nil) {
        self.model = model; self.task = task; self.candidates = candidates
        self.layerBits = layerBits; self.globalBatch = globalBatch
    }
}

extension Checkpoint {
    /// Throws `.mismatch` naming the first difference between this checkpoint (from `file`) and the run.
    public func requireCompatible(with run: CheckpointExpectation, file: String) throws {
        func refuse(_ what: String) throws -> Never {
            throw CheckpointError(.mismatch, file: file, "cannot resume: \(what)")
        }
        if model != run.model { try refuse("it is a checkpoint of model '\(model)', this run is '\(run.model)'") }
        if let t = run.task, t != task { try refuse("it was written by task '\(task)', this run is '\(t)'") }
        if let cands = run.candidates {
            guard let q = quantization else { try refuse("it holds no quantizers, this run searches over \(cands)") }
            if q.candidates != cands { try refuse("candidates are \(q.candidates), this run uses \(cands)") }
        }
        if let bits = run.layerBits {
            guard let q = quantization else { try refuse("it holds no quantizers") }
            if q.layers.count != bits.count {
                try refuse("it quantizes \(q.layers.count) layers, this run \(bits.count)")
            }
            for (l, b) in zip(q.layers, bits) {
                if l.name != b.name { try refuse("quantized layer '\(l.name)' where this run has '\(b.name)'") }
                if l.weightBits != b.weightBits || l.activationBits != b.activationBits {
                    try refuse("layer '\(l.name)' uses W\(l.weightBits)A\(l.activationBits), this run W\(b.weightBits)A\(b.activationBits)")
                }
            }
        }
        if let gb = run.globalBatch, gb != progress.globalBatch {
            try refuse("global batch was \(progress.globalBatch), this run uses \(gb) (keep ranks × batch per rank equal)")
        }
    }
}
