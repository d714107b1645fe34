// CheckpointWriter: crash-safe checkpoint files in one directory, the last `keep` of them kept.
//
// A checkpoint of step s goes to `.ckpt-<s>.h5.tmp` in the target directory first; it is flushed
// (H5Fflush), closed (H5Fclose, strong degree), fsync'ed, renamed onto `ckpt-<s>.h5` (rename is atomic
// within a directory) and the directory is fsync'ed. A crash or error at any point before the rename
// leaves at most a `.tmp` file (never picked up by readers) and every earlier checkpoint untouched;
// older checkpoints are pruned only after the new one is in place.

import Foundation

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
    @discardableResult
    public func write(_ checkpoint: Checkpoint) throws -> URL {
        let final = url(step: checkpoint.progress.step)
        let tmp = directory.appendingPathComponent("." + final.lastPathComponent + ".tmp")
        try? FileManager.default.removeItem(at: tmp)
        do {
            let file = try HDF5File.create(tmp)
            try CheckpointLayout.write(checkpoint, to: file)
            try file.flush()
            try file.close()
            try Self.fsync(tmp)
            guard rename(tmp.path, final.path) == 0 else {
                throw CheckpointError(.writeFailed, file: final.path, "rename from \(tmp.lastPathComponent) failed: \(String(cString: strerror(errno)))")
            }
            try? Self.fsync(directory)
        } catch let e as CheckpointError {
            try? FileManager.default.removeItem(at: tmp)
            throw e
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw CheckpointError(.writeFailed, file: final.path, "write failed, previous checkpoints kept: \(error)")
        }
        prune(keeping: final)
        return final
    }

    /// Remove all but the newest `keep` checkpoints (by step), never the one just written (a run resumed
    /// from an older file into a directory holding newer ones must not delete its own checkpoint).
    func prune(keeping current: URL) {
        let others = CheckpointDirectory.checkpoints(in: directory).filter { $0.url.lastPathComponent != current.lastPathComponent }
        for old in others.dropLast(keep - 1) { try? FileManager.default.removeItem(at: old.url) }
    }

    static func fsync(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else {
            throw CheckpointError(.writeFailed, file: url.path, "open for fsync failed: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        #if canImport(Glibc)
        let r = Glibc.fsync(fd)
        #else
        let r = Darwin.fsync(fd)
        #endif
        guard r == 0 else {
            throw CheckpointError(.writeFailed, file: url.path, "fsync failed: \(String(cString: strerror(errno)))")
        }
    }
}
