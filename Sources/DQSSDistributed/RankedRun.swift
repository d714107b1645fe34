// RankedRun: the error policy of a data-parallel job, and rank-aware logging.
//
// * Progress goes to stderr from rank 0 only (every rank computes the same global numbers).
// * An error on any rank is printed with the rank ("dqss: rank 1 of 2: error: ...") and, when the job
//   has more than one rank, ends the WHOLE job through MPI_Abort with a non-zero status. Returning from
//   the failing rank alone would leave the others blocked in their next collective forever.
// * With one rank the error is rethrown to the caller (normal command-line error handling).
// * Except a `JobWideExit`: an error that EVERY rank throws at the same point, after agreeing on it through
//   a collective (a coordinated stop on SIGTERM: every rank finished the same step, rank 0 wrote its
//   checkpoint, all met at a barrier). It is rethrown on every rank, so that each one returns through the
//   normal exit path (MPI_Finalize at exit, the error's exit status), with no MPI_Abort.

public struct RankLog: Sendable {
    public let communicator: any Communicator
    /// Silence progress (errors are always printed).
    public var quiet: Bool
    public var tool: String

    public init(communicator: any Communicator, quiet: Bool = false, tool: String = "dqss") {
        self.communicator = communicator
        self.quiet = quiet
        self.tool = tool
    }

    /// "rank r of s" (empty for a single process).
    public var rankLabel: String {
        communicator.size > 1 ? "rank \(communicator.rank) of \(communicator.size)" : ""
    }

    /// Progress text to stderr, from rank 0 only, unless quiet.
    public func progress(_ text: String) {
        if quiet || communicator.rank != 0 { return }
        StandardErrorProgress.write(text)
    }

    /// An error line from any rank, naming it: "dqss: rank 1 of 2: error: ...".
    public func errorLine(_ message: String) -> String {
        communicator.size > 1 ? "\(tool): \(rankLabel): error: \(message)\n" : "\(tool): error: \(message)\n"
    }
}

/// An error thrown by every rank of the job together (agreed through a collective), ending the job
/// without MPI_Abort: `RankedRun` rethrows it on every rank.
public protocol JobWideExit: Error {}

public enum RankedRun {
    /// Runs `body`; an error thrown on any rank of a multi-rank job aborts the whole job (exit status 1)
    /// after printing the error with the rank. With one rank the error is rethrown, and so is a
    /// `JobWideExit` on any number of ranks (every rank throws it together: no abort).
    public static func run<T>(_ communicator: any Communicator = Distributed.world, tool: String = "dqss",
                              _ body: (any Communicator) throws -> T) throws -> T {
        do {
            return try body(communicator)
        } catch {
            if communicator.size == 1 || error is any JobWideExit { throw error }
            let log = RankLog(communicator: communicator, tool: tool)
            communicator.abort(code: 1, message: log.errorLine("\(error)") +
                               "\(tool): \(log.rankLabel): aborting all \(communicator.size) ranks")
        }
    }
}
