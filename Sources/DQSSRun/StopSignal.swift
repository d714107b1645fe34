// StopSignal: SIGTERM / SIGINT / SIGUSR1 as a request to stop at the next step boundary (the training
// loop finishes the step it is in, writes a checkpoint and exits), instead of killing the process
// mid-step. A second signal while stopping is ignored too: the checkpoint write is never torn by a signal.
// SIGUSR1 is there for mpirun: Open MPI's mpirun turns a SIGTERM into "kill the job" (SIGKILL one second
// later, exit status 1) but forwards SIGUSR1 to every rank untouched, so a launcher that must stop a job
// cleanly sends it SIGUSR1 (cluster/run-local.sh and cluster/dqss.sbatch do, on SIGTERM).
// `ExitCode.preempted` (75, EX_TEMPFAIL) tells a scheduler the run is incomplete but resumable.
//
// Only while training: `release()` (called when the training loop ends) cancels the catching and
// restores the default dispositions, so that Ctrl-C or a SIGTERM during the final evaluation or the
// BatchNorm re-estimation ends the process at once, as for any other command.

import Foundation
import Dispatch

/// SIGTERM / SIGINT / SIGUSR1 caught as a request to stop at the next step boundary (see the file header).
public final class StopSignal: @unchecked Sendable {
    /// The signals caught while training.
    public static let caught: [Int32] = [SIGTERM, SIGINT, SIGUSR1]

    private let lock = NSLock()
    private var received: Int32?
    private var sources: [DispatchSourceSignal] = []

    /// Start catching SIGTERM, SIGINT and SIGUSR1 (until `release()`).
    public init() {
        for s in Self.caught {
            signal(s, SIG_IGN)   // the dispatch source sees the signal; the default action must not kill us
            let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
            source.setEventHandler { [weak self] in self?.record(s) }
            source.resume()
            sources.append(source)
        }
    }

    /// Stop catching: cancel the dispatch sources and restore the default disposition of every caught
    /// signal (a signal from now on ends the process). A signal already recorded stays recorded.
    /// Idempotent.
    public func release() {
        lock.lock(); defer { lock.unlock() }
        if sources.isEmpty { return }
        for source in sources { source.cancel() }
        sources = []
        var set = sigset_t()
        sigemptyset(&set)
        for s in Self.caught {
            signal(s, SIG_DFL)
            sigaddset(&set, s)
        }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)   // in case the dispatch sources blocked them on this thread
    }

    private func record(_ s: Int32) {
        lock.lock(); defer { lock.unlock() }
        if received == nil { received = s }
    }

    /// The first signal received, if any.
    public var receivedSignal: Int32? { lock.lock(); defer { lock.unlock() }; return received }

    /// The name of the first signal received ("SIGTERM", ...), or "none".
    public var signalName: String {
        switch receivedSignal {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGUSR1: "SIGUSR1"
        case let s?: "signal \(s)"
        case nil: "none"
        }
    }
}
