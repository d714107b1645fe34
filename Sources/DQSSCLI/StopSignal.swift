// StopSignal: SIGTERM / SIGINT as a request to stop at the next step boundary (the training loop
// finishes the step it is in, writes a checkpoint and exits), instead of killing the process mid-step.
// A second signal while stopping is ignored too: the checkpoint write is never torn by a signal.
// `ExitCode.preempted` (75, EX_TEMPFAIL) tells a scheduler the run is incomplete but resumable.

import ArgumentParser
import Foundation
import Dispatch

final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var received: Int32?
    private var sources: [DispatchSourceSignal] = []

    /// Start catching SIGTERM and SIGINT (until the process ends).
    init() {
        for s in [SIGTERM, SIGINT] {
            signal(s, SIG_IGN)   // the dispatch source sees the signal; the default action must not kill us
            let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
            source.setEventHandler { [weak self] in self?.record(s) }
            source.resume()
            sources.append(source)
        }
    }

    private func record(_ s: Int32) {
        lock.lock(); defer { lock.unlock() }
        if received == nil { received = s }
    }

    /// The first signal received, if any.
    var receivedSignal: Int32? { lock.lock(); defer { lock.unlock() }; return received }

    var signalName: String {
        switch receivedSignal {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case let s?: "signal \(s)"
        case nil: "none"
        }
    }
}

extension ExitCode {
    /// Stopped by SIGTERM/SIGINT after writing a checkpoint: resume with `--resume auto`.
    static let preempted = ExitCode(75)
}
