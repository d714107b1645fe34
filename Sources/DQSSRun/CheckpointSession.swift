// CheckpointSession: the checkpoint side of a training loop, so that every command (qat, search,
// checkpoint-drill) gets the same behaviour from three calls:
//
//     var session = try CheckpointSession(options, log: log)       // writer + SIGTERM/SIGINT catcher
//     if let (c, file) = try session.resumePoint() { ...restore from c... }
//     while !done { step(); if try session.afterStep(step, endOfEpoch:, last:, make: { run.checkpoint() }) { stop } }
//
// `afterStep` writes when the policy says so (every K steps, epoch end, last step, a stop signal) and
// returns true when a stop signal arrived (the `dqss` caller exits with status 75 after cleaning up).
// Only the writing rank (`isWriter`, rank 0) touches the directory; every rank reads on resume.
// Data-parallel jobs: the decision to write and to stop is the same on every rank (the policy depends only
// on the step; the stop is agreed through `stopAgreement`), and `make` runs on EVERY rank when a write is
// due, so it may contain collectives (e.g. gathering per-rank state to rank 0). After a stop the caller
// waits at a barrier (rank 0's write is complete) and exits 75 on every rank (signals stay caught until then).
// `finish()` ends the catching of SIGTERM/SIGINT/SIGUSR1 when the training loop is over.

import Foundation
import DQSSCheckpoint

/// The checkpoint side of a training loop: resume point, writes by policy, and the stop signal (file header).
public struct CheckpointSession {
    public let options: CheckpointPolicy
    public let writer: CheckpointWriter?
    public let stop: StopSignal
    public let log: ProgressLog
    /// False on ranks other than 0: they never write.
    public let isWriter: Bool
    /// The last checkpoint written by this session.
    public private(set) var lastWritten: URL?
    /// Data-parallel jobs: turns this rank's "stop requested" into the job's decision (true if any rank
    /// got the signal; a collective, called once per step on every rank), so all ranks stop together.
    public var stopAgreement: ((Bool) -> Bool)?

    /// Starts catching SIGTERM/SIGINT/SIGUSR1 (until `finish()`); opens the writer on the writing rank.
    public init(_ options: CheckpointPolicy, log: ProgressLog, isWriter: Bool = true) throws {
        self.options = options
        self.log = log
        self.isWriter = isWriter
        self.writer = isWriter ? try options.writer() : nil
        self.stop = StopSignal()
    }

    /// The checkpoint to resume from (read and format-checked), or nil for a fresh start.
    public func resumePoint() throws -> (checkpoint: Checkpoint, file: String)? {
        // Warnings about the checkpoint itself go to stderr even with --quiet.
        let warn = { (s: String) in FileHandle.standardError.write(Data((s + "\n").utf8)) }
        guard let url = try options.resumeFile(log: { log.line($0) }, warn: warn) else { return nil }
        let (c, seal) = try CheckpointReader.readChecked(url)
        if let w = CheckpointReader.warning(seal, file: url.path) { warn(w) }
        return (c, url.path)
    }

    /// Whether this process got a stop signal.
    public var stopRequested: Bool { stop.receivedSignal != nil }

    /// The training loop is over (finished or stopping): from now on SIGTERM/SIGINT/SIGUSR1 have their
    /// default effect (end the process), e.g. during the final evaluation.
    public func finish() { stop.release() }

    /// After the step that made `step` steps done: write a checkpoint if due (or if stopping) and
    /// report whether to stop.
    public mutating func afterStep(_ step: Int, endOfEpoch: Bool, last: Bool, make: () throws -> Checkpoint) throws -> Bool {
        let stopping = stopAgreement?(stopRequested) ?? stopRequested
        if options.checkpointDir != nil, stopping || options.due(step: step, endOfEpoch: endOfEpoch, last: last) {
            let checkpoint = try make()   // on every rank: `make` may hold collectives
            if let writer { lastWritten = try writer.write(checkpoint) }
        }
        if stopping {
            let cause = stopRequested ? stop.signalName : "a signal to another rank"
            log.line("stopped by \(cause) after step \(step)"
                     + (lastWritten.map { "; checkpoint \($0.path); continue with --resume auto" } ?? ""))
        }
        return stopping
    }
}
