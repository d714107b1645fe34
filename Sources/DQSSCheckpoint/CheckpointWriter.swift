// CheckpointWriter: crash-safe checkpoint files in one directory, the last `keep` of them kept.
//
// A checkpoint of step s is built in memory, sealed (CheckpointSeal), written to `.ckpt-<s>.h5.tmp` in
// the target directory, fsync'ed, renamed onto `ckpt-<s>.h5` (rename is atomic
// within a directory) and the directory is fsync'ed. A crash or error at any point before the rename
// leaves at most a `.tmp` file (never picked up by readers) and every earlier checkpoint untouched;
// older checkpoints are pruned only after the new one is in place.

import Foundation
import DQSSFormats

public struct CheckpointWriter: Sendable {
    public let directory: URL
    /// How many checkpoints to keep (the newest ones); at least 1.
    public let keep: Int

    /// Creates `directory` if needed and removes `.tmp` files left by a crashed writer.
    public init(directory: URL, keep: Int = 3) throws {
        guard keep >= 1 else {
            throw CheckpointError(.writeFailed, file: directory.path, "--keep must be at least 1 (got \(keep))")
        }
        self.directory = directory
        self.keep = keep
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError(.writeFailed, file: directory.path, "cannot create the checkpoint directory: \(error.localizedDescription)")
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        where name.hasPrefix(".") && name.hasSuffix(CheckpointDirectory.fileSuffix + ".tmp") {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
    }

    /// The file a checkpoint of `step` is written to.
    public func url(step: Int) -> URL { directory.appendingPathComponent(CheckpointDirectory.fileName(step: step)) }

    /// Write `checkpoint` (named after its step), then prune to the newest `keep`. Returns the final path.
    ///
    /// A checkpoint holding a non-finite weight, buffer, logit or optimizer buffer is refused first
    /// (`.nonFinite`, naming the tensor): a diverged run must not leave files `--resume auto` would pick.
    /// The file is built in memory (HDF5's core driver), sealed (CheckpointSeal: length and SHA-256 in
    /// the user block) and only then written with plain POSIX calls: a full disk is an ordinary write
    /// error, every HDF5 identifier is already closed, and the `.tmp` file is removed.
    @discardableResult
    public func write(_ checkpoint: Checkpoint) throws -> URL {
        let final = url(step: checkpoint.progress.step)
        try write(checkpoint, to: final)
        prune(keeping: final)
        return final
    }

    /// Write `checkpoint` to `name` in the directory (e.g. the final network of a QAT run's --out directory),
    /// with the same checks and crash safety as `write(_:)` and without pruning anything.
    @discardableResult
    public func write(_ checkpoint: Checkpoint, named name: String) throws -> URL {
        let final = directory.appendingPathComponent(name)
        try write(checkpoint, to: final)
        return final
    }

    private func write(_ checkpoint: Checkpoint, to final: URL) throws {
        if let bad = checkpoint.firstNonFinite() {
            throw CheckpointError(.nonFinite, file: final.path,
                                  "not written: '\(bad)' holds a non-finite value (Inf or NaN); the run has diverged. "
                                  + "Earlier checkpoints are kept")
        }
        let tmp = directory.appendingPathComponent("." + final.lastPathComponent + ".tmp")
        try? FileManager.default.removeItem(at: tmp)
        do {
            let image = try Self.sealedImage(checkpoint, name: final.path)
            try AtomicFile.writeNew(image, to: tmp)
            guard rename(tmp.path, final.path) == 0 else {
                throw CheckpointError(.writeFailed, file: final.path, "rename from \(tmp.lastPathComponent) failed: \(String(cString: strerror(errno)))")
            }
            try? AtomicFile.fsync(directory)
        } catch let e as CheckpointError {
            try? FileManager.default.removeItem(at: tmp)
            throw e
        } catch let e as AtomicFileError {
            try? FileManager.default.removeItem(at: tmp)
            throw CheckpointError(.writeFailed, file: final.path, "write failed, previous checkpoints kept: \(e)")
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw CheckpointError(.writeFailed, file: final.path, "write failed, previous checkpoints kept: \(error)")
        }
    }

    /// The complete file: the HDF5 image of `checkpoint` with its sealed user block.
    static func sealedImage(_ checkpoint: Checkpoint, name: String) throws -> [UInt8] {
        let file = try HDF5File.createInMemory(name: name, userBlock: CheckpointSeal.userBlockSize)
        defer { try? file.close() }
        try CheckpointLayout.write(checkpoint, to: file)
        var image = [UInt8](repeating: 0, count: CheckpointSeal.userBlockSize) + (try file.image())
        try file.close()
        CheckpointSeal.seal(&image)
        return image
    }

    /// Write the layout without the seal, as dqss wrote checkpoints before it (no user block, nothing to
    /// verify): for tests of the legacy path only.
    public static func writeUnsealed(_ checkpoint: Checkpoint, to url: URL) throws {
        let file = try HDF5File.create(url)
        defer { try? file.close() }
        try CheckpointLayout.write(checkpoint, to: file)
        try file.close()
    }

    /// Remove all but the newest `keep` checkpoints (by step), never the one just written (a run resumed
    /// from an older file into a directory holding newer ones must not delete its own checkpoint).
    func prune(keeping current: URL) {
        let others = CheckpointDirectory.checkpoints(in: directory).filter { $0.url.lastPathComponent != current.lastPathComponent }
        for old in others.dropLast(keep - 1) { try? FileManager.default.removeItem(at: old.url) }
    }
}
