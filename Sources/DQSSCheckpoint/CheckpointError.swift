// CheckpointError: why a checkpoint could not be written, read or used; the message names the file and,
// where it applies, the object inside it or the setting that differs.

public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Missing, truncated, corrupt, or an object inside unreadable.
        case unreadable
        /// An HDF5 file without the dqss checkpoint format attribute.
        case notACheckpoint
        /// A format version this build cannot read.
        case unsupportedVersion
        /// A valid checkpoint of another run (model, candidates, bit widths, global batch ...).
        case mismatch
        /// The file could not be written (the previous checkpoint is untouched).
        case writeFailed
        /// The checkpoint holds Inf or NaN in a weight, buffer, logit or optimizer buffer: not written.
        case nonFinite
        /// `--resume auto` found nothing to resume from.
        case noCheckpoint
    }

    public var kind: Kind
    /// The checkpoint file (or directory for `.noCheckpoint`).
    public var file: String
    public var message: String

    public init(_ kind: Kind, file: String, _ message: String) {
        self.kind = kind; self.file = file; self.message = message
    }

    public var description: String { "checkpoint \(file): \(message)" }
}
