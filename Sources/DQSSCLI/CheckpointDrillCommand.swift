// `dqss checkpoint-drill` (hidden): the checkpoint machinery on a tiny, fast run (TinyMixedRun), so that
// tests can kill it (SIGKILL, SIGTERM) at any point and resume it. With --json it prints the final
// step and a digest of every weight, buffer, α, β, momentum buffer and RNG state: an interrupted and
// resumed run must print the same digest as an uninterrupted one.

import ArgumentParser
import Foundation
import DQSSTensor
import DQSSModels
import DQSSCheckpoint
import DQSSRun

struct CheckpointDrillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint-drill",
        abstract: "Train a tiny mixed-quantized net with checkpoints (for testing resume).",
        shouldDisplay: false)

    @Option(help: "Optimizer steps in total.") var steps: Int = 60
    @Option(help: "Batch size.") var batch: Int = 16
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "Learning rate of the network weights (a huge one makes the run diverge, for tests).") var lr: Float = TinyMixedConfig().lr
    @Option(help: "Sleep this many milliseconds after each step (to give tests time to interrupt).") var stepDelayMs: Int = 0
    @OptionGroup var checkpoints: CheckpointOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(1, "--steps", steps)
        try requireAtLeast(1, "--batch", batch)
    }

    func run() throws {
        let log = ProgressLog(quiet: output.quiet)
        let config = TinyMixedConfig(steps: steps, batch: batch, seed: seed, lr: lr)
        var session = try CheckpointSession(checkpoints.policy, log: log)
        let run: TinyMixedRun
        if let (c, file) = try session.resumePoint() {
            run = try TinyMixedRun.resumed(from: c, file: file, config: config)
            log.line("resumed from \(file) at step \(run.step)")
        } else {
            run = try TinyMixedRun(config: config)
        }
        if try run.train(session: &session, stepDelayMilliseconds: stepDelayMs, commandLine: quotedCommandLine()) {
            throw ExitCode.preempted
        }
        let last = session.lastWritten
        let c = try run.checkpoint()
        let digest = CheckpointDigest.of(c)
        if output.json {
            try printJSONObject(["step": run.step, "digest": digest, "checkpoint": last?.path ?? NSNull()])
        } else {
            print("step \(run.step) digest \(digest)")
        }
    }
}
