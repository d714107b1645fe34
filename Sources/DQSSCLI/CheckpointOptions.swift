// Checkpoint flags shared by the training commands (`dqss qat`, `dqss search`, and the hidden
// `dqss checkpoint-drill`), and the policy they imply: a checkpoint every K steps, at the end of every
// epoch, when stopped by SIGTERM/SIGINT, and at the end of the run.

import ArgumentParser
import Foundation
import DQSSCheckpoint

struct CheckpointOptions: ParsableArguments {
    @Option(help: "Directory for checkpoints (ckpt-<step>.h5); no checkpoints without it.")
    var checkpointDir: String?

    @Option(help: "Also write a checkpoint every K optimizer steps (0: only at epoch ends, on SIGTERM/SIGINT and at the end).")
    var checkpointEvery: Int = 0

    @Option(help: "Keep the newest M checkpoints.")
    var keep: Int = 3

    @Option(help: "Resume from a checkpoint file, or 'auto' for the newest in --checkpoint-dir (a fresh start when it is empty).")
    var resume: String?

    func validate() throws {
        if checkpointEvery < 0 { throw ValidationError("--checkpoint-every must be 0 or more (got \(checkpointEvery))") }
        if keep < 1 { throw ValidationError("--keep must be at least 1 (got \(keep))") }
        if resume == "auto" && checkpointDir == nil { throw ValidationError("--resume auto needs --checkpoint-dir") }
        if checkpointEvery > 0 && checkpointDir == nil { throw ValidationError("--checkpoint-every needs --checkpoint-dir") }
    }

    var directory: URL? { checkpointDir.map { URL(fileURLWithPath: $0) } }

    /// The writer, when checkpoints are enabled.
    func writer() throws -> CheckpointWriter? {
        guard let directory else { return nil }
        return try CheckpointWriter(directory: directory, keep: keep)
    }

    /// The checkpoint to resume from: nil for a fresh start (no --resume, or `auto` on an empty directory).
    /// Damaged newer files skipped by `auto` are reported through `warn` (on stderr even with --quiet).
    func resumeFile(log: (String) -> Void, warn: ((String) -> Void)? = nil) throws -> URL? {
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
    func due(step: Int, endOfEpoch: Bool, last: Bool) -> Bool {
        guard checkpointDir != nil else { return false }
        return last || endOfEpoch || (checkpointEvery > 0 && step % checkpointEvery == 0)
    }
}

/// The command line as typed (for the checkpoint's `command_line` attribute).
func quotedCommandLine() -> String {
    CommandLine.arguments.map { a in
        a.isEmpty || a.contains(where: { " \"'\\$`".contains($0) }) ? "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'" : a
    }.joined(separator: " ")
}
