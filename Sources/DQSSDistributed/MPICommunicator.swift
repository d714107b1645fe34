// MPICommunicator: `Communicator` over Open MPI's MPI_COMM_WORLD. The only file that imports _CMPI.
//
// Life cycle: `MPI_Init_thread(SERIALIZED)` in `init`: the thread that created it and one progress thread
// call MPI, never at the same time (every MPI call holds `MPIProgress.lock`); the worker threads of
// `parallelFor` never do. The progress thread exists because Open MPI moves a non-blocking collective
// forward only inside MPI calls: while backward computes, it tests the started gradient buckets every
// 50 µs, so they complete behind the computation (it sleeps when nothing is pending). If MPI grants only
// FUNNELED, there is no progress thread and the buckets move only when the caller tests them.
// `MPI_Finalize` at process exit (atexit), unless the job
// was aborted. MPI can be initialised once per process, so the communicator is created once, by
// `Distributed.world`. Counts above Int32.max are split into several calls. MPI's default error handler
// (MPI_ERRORS_ARE_FATAL) aborts the job on any MPI error; return codes are checked anyway.

import Foundation
import _CMPI

public final class MPICommunicator: Communicator, @unchecked Sendable {
    // @unchecked Sendable: the handle is an immutable pointer to MPI's own world communicator.
    private let comm: MPI_Comm
    public let rank: Int
    public let size: Int
    /// Thread level MPI granted (MPI_THREAD_SERIALIZED asked for; FUNNELED or higher expected).
    public let threadLevel: Int32
    /// Serialises every MPI call and owns the progress thread (nil without SERIALIZED).
    let progress: MPIProgress

    /// Initialises MPI. Call once per process (through `Distributed.world`).
    init() {
        var provided: Int32 = 0
        Self.check(MPI_Init_thread(nil, nil, cmpi_thread_serialized(), &provided), "MPI_Init_thread")
        threadLevel = provided
        progress = MPIProgress(threaded: provided >= cmpi_thread_serialized())
        comm = cmpi_comm_world()
        var r: Int32 = 0, s: Int32 = 0
        Self.check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank")
        Self.check(MPI_Comm_size(comm, &s), "MPI_Comm_size")
        rank = Int(r)
        size = Int(s)
        atexit { MPICommunicator.finalizeIfNeeded() }
    }

    /// MPI_Finalize once, if MPI is initialised and not yet finalised (called at process exit).
    static func finalizeIfNeeded() {
        var initialized: Int32 = 0, finalized: Int32 = 0
        MPI_Initialized(&initialized)
        MPI_Finalized(&finalized)
        if initialized != 0 && finalized == 0 {
            MPIProgress.shutDown()
            MPI_Finalize()
        }
    }

    static func check(_ code: Int32, _ what: String) {
        if code == cmpi_success() { return }
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        let text = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        FileHandle.standardError.write(Data("dqss: \(what) failed: \(text)\n".utf8))
        exit(1)
    }

    private static func op(_ op: ReduceOperation) -> MPI_Op {
        switch op {
        case .sum: cmpi_op_sum()
        case .max: cmpi_op_max()
        case .min: cmpi_op_min()
        }
    }

    /// In-place allreduce in chunks of at most Int32.max elements.
    private func allreduce(_ buffer: UnsafeMutableRawPointer, count: Int, stride: Int, type: MPI_Datatype,
                           _ op: ReduceOperation) {
        var done = 0
        while done < count {
            let n = min(count - done, Int(Int32.max))
            progress.serialized {
                Self.check(MPI_Allreduce(cmpi_in_place(), buffer + done * stride, Int32(n), type, Self.op(op), comm),
                           "MPI_Allreduce")
            }
            done += n
        }
    }

    public func allreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, _ op: ReduceOperation) {
        allreduce(UnsafeMutableRawPointer(buffer), count: count, stride: 4, type: cmpi_float(), op)
    }

    public func allreduce(_ buffer: UnsafeMutablePointer<Double>, count: Int, _ op: ReduceOperation) {
        allreduce(UnsafeMutableRawPointer(buffer), count: count, stride: 8, type: cmpi_double(), op)
    }

    public func allreduce(_ buffer: UnsafeMutablePointer<Int64>, count: Int, _ op: ReduceOperation) {
        allreduce(UnsafeMutableRawPointer(buffer), count: count, stride: 8, type: cmpi_int64(), op)
    }

    public func startAllreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, _ op: ReduceOperation) -> any PendingCollective {
        let pending = MPIPendingCollective(progress: progress)
        progress.serialized {
            var done = 0
            while done < count {
                let n = min(count - done, Int(Int32.max))
                var request: MPI_Request? = nil
                Self.check(MPI_Iallreduce(cmpi_in_place(), buffer + done, Int32(n), cmpi_float(), Self.op(op), comm, &request),
                           "MPI_Iallreduce")
                pending.requests.append(request)
                done += n
            }
            progress.add(pending)
        }
        return pending
    }

    public func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int) {
        precondition(root >= 0 && root < size, "broadcast from rank \(root) of \(size)")
        var done = 0
        while done < bytes {
            let n = min(bytes - done, Int(Int32.max))
            progress.serialized { Self.check(MPI_Bcast(buffer + done, Int32(n), cmpi_byte(), Int32(root), comm), "MPI_Bcast") }
            done += n
        }
    }

    public func allgather(_ values: [Double]) -> [[Double]] {
        // Lengths first, then MPI_Allgatherv of the concatenation.
        var counts = [Int64](repeating: 0, count: size)
        var mine = Int64(values.count)
        progress.serialized { Self.check(MPI_Allgather(&mine, 1, cmpi_int64(), &counts, 1, cmpi_int64(), comm), "MPI_Allgather") }
        let total = counts.reduce(0, +)
        precondition(total <= Int64(Int32.max), "allgather of \(total) values exceeds one MPI call")
        let counts32 = counts.map { Int32($0) }
        var displacements = [Int32](repeating: 0, count: size)
        for r in 1..<max(size, 1) { displacements[r] = displacements[r - 1] + counts32[r - 1] }
        var all = [Double](repeating: 0, count: Int(total))
        values.withUnsafeBufferPointer { send in
            all.withUnsafeMutableBufferPointer { recv in
                progress.serialized {
                    Self.check(MPI_Allgatherv(send.baseAddress, Int32(values.count), cmpi_double(),
                                              recv.baseAddress, counts32, displacements, cmpi_double(), comm),
                               "MPI_Allgatherv")
                }
            }
        }
        return (0..<size).map { r in
            let lo = Int(displacements[r])
            return Array(all[lo ..< lo + Int(counts32[r])])
        }
    }

    public func barrier() { progress.serialized { Self.check(MPI_Barrier(comm), "MPI_Barrier") } }

    public func abort(code: Int32, message: String) -> Never {
        FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
        MPI_Abort(comm, code == 0 ? 1 : code)
        exit(code == 0 ? 1 : code)   // MPI_Abort does not return; the compiler does not know that
    }
}

/// The MPI requests of one started allreduce (one per Int32.max-sized piece). MPI sets a completed
/// request to MPI_REQUEST_NULL; testing or waiting on those again is allowed and returns at once.
/// Accessed only under `MPIProgress.lock` (the progress thread tests it too).
final class MPIPendingCollective: PendingCollective {
    var requests: [MPI_Request?] = []
    private(set) var complete = false
    let progress: MPIProgress

    init(progress: MPIProgress) { self.progress = progress }

    /// MPI_Testall; the caller holds the lock.
    func testLocked() -> Bool {
        if complete { return true }
        var flag: Int32 = 0
        let code = requests.withUnsafeMutableBufferPointer {
            MPI_Testall(Int32($0.count), $0.baseAddress, &flag, cmpi_statuses_ignore())
        }
        MPICommunicator.check(code, "MPI_Testall")
        complete = flag != 0
        return complete
    }

    func test() -> Bool { progress.serialized { testLocked() } }

    func wait() {
        progress.serialized {
            if complete { return }
            let code = requests.withUnsafeMutableBufferPointer {
                MPI_Waitall(Int32($0.count), $0.baseAddress, cmpi_statuses_ignore())
            }
            MPICommunicator.check(code, "MPI_Waitall")
            complete = true
        }
    }

    deinit {
        // A request dropped before completion would leave MPI writing into a buffer that may be freed.
        // (The progress thread holds a reference while it is pending, so this runs after completion.)
        if !complete { wait() }
    }
}

/// Every MPI call goes through `serialized` (one lock); with `threaded`, a thread tests the pending
/// non-blocking collectives every 50 µs until they complete, and sleeps on the lock's condition otherwise.
final class MPIProgress: @unchecked Sendable {
    private let lock = NSCondition()
    private var pending: [MPIPendingCollective] = []
    private var stopped = false
    private let threaded: Bool
    /// The one instance (MPI is initialised once per process), for the exit hook.
    nonisolated(unsafe) private static var current: MPIProgress?

    init(threaded: Bool) {
        self.threaded = threaded
        Self.current = self
        if threaded {
            let thread = Thread { [unowned self] in self.run() }
            thread.name = "dqss-mpi-progress"
            thread.start()
        }
    }

    func serialized<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    /// Registers a started collective for the progress thread; the caller holds the lock.
    func add(_ p: MPIPendingCollective) {
        guard threaded else { return }
        pending.append(p)
        lock.signal()
    }

    private func run() {
        while true {
            lock.lock()
            while pending.isEmpty && !stopped { lock.wait() }
            if stopped { lock.unlock(); return }
            pending.removeAll { $0.testLocked() }
            lock.unlock()
            usleep(50)
        }
    }

    /// Stops the progress thread before MPI_Finalize.
    static func shutDown() {
        guard let p = current else { return }
        p.lock.lock()
        p.stopped = true
        p.lock.signal()
        p.lock.unlock()
    }
}
