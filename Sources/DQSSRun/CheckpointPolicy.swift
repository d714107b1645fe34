// CheckpointPolicy: where checkpoints go and when they are written — every K steps, at the end of every
// epoch, when stopped by SIGTERM/SIGINT/SIGUSR1, and at the end of the run — and what a resume starts from.
// The `dqss` training commands fill it from --checkpoint-dir, --checkpoint-every, --keep and --resume.

import Foundation
import DQSSCheckpoint

/// Where checkpoints go, when they are written, and which one a run resumes from.
public struct CheckpointPolicy: Sendable, Equatable {
    /// Directory for checkpoints (ckpt-<step>.h5); nil: no checkpoints.
    public var checkpointDir: String?
    /// Also write a checkpoint every K optimizer steps (0: only at epoch ends, on a stop signal and at the end).
    public var checkpointEvery: Int
    /// Keep the newest `keep` checkpoints.
    public var keep: Int
    /// A checkpoint file to resume from, or "auto" for the newest in `checkpointDir` (nil: a fresh start).
    public var resume: String?

    public init(checkpointDir: String? = nil, checkpointEvery: Int = 0, keep: Int = 3, resume: String? = nil) {
        self.checkpointDir = checkpointDir
        self.checkpointEvery = checkpointEvery
        self.keep = keep
        self.resume = resume
    }

    public var directory: URL? { checkpointDir.map { URL(fileURLWithPath: $0) } }

    /// The writer, when checkpoints are enabled.
    public func writer() throws -> CheckpointWriter? {
        guard let directory else { return nil }
        return try CheckpointWriter(directory: directory, keep: keep)
    }

    /// The checkpoint to resume from: nil for a fresh start (no `resume`, or `auto` on an empty directory).
    /// Damaged newer files skipped by `auto` are reported through `warn` (on stderr even with --quiet).
    public func resumeFile(log: (String) -> Void, warn: ((String) -> Void)? = nil) throws -> URL? {
        guard let resume else { return nil }
        do {
            let (url, skipped) = try CheckpointDirectory.resolve(resume, directory: directory)
            for s in skipped {
                let line = "warning: skipping damaged checkpoint: \(s)"
                if let warn { warn(line) } else { log(line) }
            }
            return url
        } catch let e as CheckpointError where e.kind == .noCheckpoint && resume == "auto"
                    && CheckpointDirectory.checkpoints(in: directory!).isEmpty {
            log("no checkpoint in \(directory!.path): starting from scratch")
            return nil
        }
    }

    /// Whether to checkpoint after the step that brought the run to `step` (1-based count of steps done).
    public func due(step: Int, endOfEpoch: Bool, last: Bool) -> Bool {
        guard checkpointDir != nil else { return false }
        return last || endOfEpoch || (checkpointEvery > 0 && step % checkpointEvery == 0)
    }
}
