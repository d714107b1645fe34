// Checkpoint flags shared by the training commands (`dqss qat`, `dqss search`, and the hidden
// `dqss checkpoint-drill`), and the policy they imply: a checkpoint every K steps, at the end of every
// epoch, when stopped by SIGTERM/SIGINT, and at the end of the run (CheckpointPolicy, DQSSRun).

import ArgumentParser
import Foundation
import DQSSRun

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
        try requireAtLeast(1, "--keep", keep)
        if resume == "auto" && checkpointDir == nil { throw ValidationError("--resume auto needs --checkpoint-dir") }
        if checkpointEvery > 0 && checkpointDir == nil { throw ValidationError("--checkpoint-every needs --checkpoint-dir") }
    }

    /// The policy these flags describe (DQSSRun).
    var policy: CheckpointPolicy {
        CheckpointPolicy(checkpointDir: checkpointDir, checkpointEvery: checkpointEvery, keep: keep, resume: resume)
    }
}

/// The command line as typed (for the checkpoint's `command_line` attribute).
func quotedCommandLine() -> String {
    CommandLine.arguments.map { a in
        a.isEmpty || a.contains(where: { " \"'\\$`".contains($0) }) ? "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'" : a
    }.joined(separator: " ")
}
