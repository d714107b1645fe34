// Exit statuses of the `dqss` commands beyond 0 (success) and 1 (error).

import ArgumentParser
import DQSSRun

extension ExitCode {
    /// Stopped by SIGTERM/SIGINT/SIGUSR1 after writing a checkpoint: resume with `--resume auto`.
    static let preempted = ExitCode(75)
}
