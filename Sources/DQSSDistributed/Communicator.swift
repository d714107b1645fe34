// Communicator: the collective operations data-parallel dqss needs, over the ranks of one job.
//
// Two implementations: `MPICommunicator` (Open MPI's MPI_COMM_WORLD, when the process was launched by
// mpirun/srun) and `SingleProcess` (one rank, every collective is the identity). Code above this module
// sees only this protocol: no MPI handle, no OpaquePointer.
//
// Contract shared by every collective: EVERY rank must call it, in the same order, with the same count
// (a rank that skips one makes the others wait forever; that is why a failing rank aborts the whole job
// instead of returning early, see `RankedRun`). Results are identical on every rank. MPI errors are
// fatal (MPI_ERRORS_ARE_FATAL): the job is aborted by MPI itself, nothing to catch.

/// Element-wise reduction applied across ranks.
public enum ReduceOperation: Sendable {
    case sum, max, min
}

public protocol Communicator: AnyObject, Sendable {
    /// This process's rank, 0 ..< size.
    var rank: Int { get }
    /// Number of ranks in the job.
    var size: Int { get }

    /// buffer[i] ← op over ranks of buffer[i], in place, on every rank.
    func allreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, _ op: ReduceOperation)
    func allreduce(_ buffer: UnsafeMutablePointer<Double>, count: Int, _ op: ReduceOperation)
    func allreduce(_ buffer: UnsafeMutablePointer<Int64>, count: Int, _ op: ReduceOperation)
    /// Starts buffer[i] ← op over ranks of buffer[i] (in place) and returns at once: the reduction runs
    /// while the caller computes (gradient buckets during backward). The buffer must not be read or written
    /// until the returned request has completed. Same contract as every collective: every rank starts
    /// the same reductions in the same order (blocking collectives may come in between, in the same order).
    func startAllreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, _ op: ReduceOperation) -> any PendingCollective
    /// Copy `bytes` bytes from `root`'s buffer into every other rank's buffer.
    func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int)
    /// Every rank's `values` (lengths may differ), indexed by rank, on every rank.
    func allgather(_ values: [Double]) -> [[Double]]
    /// Returns once every rank has entered it.
    func barrier()
    /// Ends the WHOLE job (every rank) with exit status `code`, after printing `message` to stderr.
    func abort(code: Int32, message: String) -> Never
}

/// A collective started by `startAllreduce`. MPI moves it forward only inside MPI calls on this thread, so
/// the caller calls `test()` between pieces of work and `wait()` when it needs the result.
public protocol PendingCollective: AnyObject {
    /// Advances the collective; true once it has completed (then the buffer holds the result).
    func test() -> Bool
    /// Returns when the collective has completed.
    func wait()
}

/// A collective that completed before `startAllreduce` returned (one rank, or a blocking fallback).
public final class CompletedCollective: PendingCollective {
    public init() {}
    public func test() -> Bool { true }
    public func wait() {}
}

extension Communicator {
    /// Default: the blocking reduction, complete on return (no overlap, same result).
    public func startAllreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, _ op: ReduceOperation) -> any PendingCollective {
        allreduce(buffer, count: count, op)
        return CompletedCollective()
    }
}

// MARK: - Array and scalar conveniences

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    public func allreduce(_ values: inout [Float], _ op: ReduceOperation) {
        let n = values.count
        values.withUnsafeMutableBufferPointer { allreduce($0.baseAddress!, count: n, op) }
    }

    public func allreduce(_ values: inout [Double], _ op: ReduceOperation) {
        let n = values.count
        values.withUnsafeMutableBufferPointer { allreduce($0.baseAddress!, count: n, op) }
    }

    public func allreduce(_ values: inout [Int64], _ op: ReduceOperation) {
        let n = values.count
        values.withUnsafeMutableBufferPointer { allreduce($0.baseAddress!, count: n, op) }
    }

    /// `op` over ranks of one value.
    public func allreduce(_ value: Double, _ op: ReduceOperation) -> Double {
        var v = [value]
        allreduce(&v, op)
        return v[0]
    }

    public func allreduce(_ value: Float, _ op: ReduceOperation) -> Float {
        var v = [value]
        allreduce(&v, op)
        return v[0]
    }

    public func allreduce(_ value: Int, _ op: ReduceOperation) -> Int {
        var v = [Int64(value)]
        allreduce(&v, op)
        return Int(v[0])
    }

    /// Root's array to every rank (every rank must pass an array of the same length).
    public func broadcast(_ values: inout [Float], root: Int = 0) {
        let bytes = values.count * MemoryLayout<Float>.stride
        values.withUnsafeMutableBytes { broadcast($0.baseAddress!, bytes: bytes, root: root) }
    }

    /// True on every rank when `flag` is true on any rank (a collective: every rank must call it).
    public func any(_ flag: Bool) -> Bool { allreduce(flag ? 1 : 0, .max) != 0 }
}
