// Threads: OpenBLAS's pool for GEMM plus Dispatch for im2col and element-wise loops.
//
// The thread count is a process-wide setting because OpenBLAS's pool is process-wide; `Threads.configure`
// is called once by the executable (flag `--threads`). Kernels split work into fixed, disjoint ranges
// whose boundaries do not depend on timing, and reductions combine per-range partial results in range
// order, so results depend on the thread count only through float summation order.

import Dispatch
import Foundation
import _CBLAS

public enum Threads {
    // Written once at start-up by `configure`, read by kernels. nonisolated(unsafe) because it mirrors
    // OpenBLAS's own process-global setting; it is not changed while kernels run.
    nonisolated(unsafe) private static var current: Int = defaultCount

    /// Default: the number of cores this process may use. Measured on the 2-vCPU machine, idle, with
    /// `dqss-bench threads --repeat 5` (conv 128x64x32x32 3x3 forward+backward / ResNet-20 training step,
    /// batch 128): 1 thread 279.7 / 472.5 ms, 2 threads 142.8 / 258.0 ms, 3 threads 154.6 / 274.5 ms.
    /// The step's process CPU time barely grows from 1 to 2 threads (472 vs 491 ms); a third thread only
    /// time-slices with the other two. So: one thread per core.
    public static var defaultCount: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Set the number of threads used by OpenBLAS and by the Dispatch-parallel loops.
    public static func configure(_ n: Int) {
        precondition(n >= 1, "--threads must be at least 1")
        current = n
        BLASGate.shared.invalidate()   // OpenBLAS is set when the next GEMM section starts
    }

    public static var count: Int { current }

    /// How many partial sums a reduction is split into at most, whatever the thread count: the partition
    /// (and so the float summation order) must not depend on `--threads`, or 1 and 2 threads train
    /// different networks. 16 = 4 chunks per thread on 4 cores; more threads idle in such loops only.
    public static let reductionChunks = 16
}

/// Run `body(range)` over `0..<n` split into at most `Threads.count` contiguous chunks of at least
/// `minChunk` items. Chunk boundaries depend only on `n`, `minChunk` and the thread count.
@inlinable
public func parallelRanges(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    if n <= 0 { return }
    let chunks = min(Threads.count, max(1, n / max(minChunk, 1)))
    if chunks <= 1 { body(0..<n); return }
    runParallel(tasks: chunks) { _, c in body(n * c / chunks ..< n * (c + 1) / chunks) }
}

/// Run `body(i)` for every i in `0..<n`, spread over the threads (each index exactly once).
@inlinable
public func parallelFor(_ n: Int, minChunk: Int = 1, _ body: (Int) -> Void) {
    parallelRanges(n, minChunk: minChunk) { r in for i in r { body(i) } }
}

/// Run `body(worker, task)` once for every task in `0..<tasks` on up to `Threads.count` workers
/// (worker ids are in `0..<min(Threads.count, tasks)`; a worker runs its tasks one after another, so
/// per-worker scratch indexed by `worker` is race-free).
///
/// Tasks are claimed dynamically and the calling thread works too. Why not
/// `DispatchQueue.concurrentPerform`: it waits for every iteration to have run, so on a machine shared
/// with other jobs one descheduled helper stalls the whole loop for a scheduler time slice (milliseconds,
/// at every parallel loop of every layer). Here a helper that starts late finds no task left and the
/// caller never waits for it; the caller only waits for tasks that are actually running.
/// `maxWorkers` (default `Threads.count`) lets a caller that sized per-worker scratch pass the exact
/// count it used, so a concurrent `Threads.configure` cannot hand out a worker id beyond it.
public func runParallel(tasks: Int, maxWorkers: Int? = nil, _ body: (_ worker: Int, _ task: Int) -> Void) {
    if tasks <= 0 { return }
    let workers = min(max(1, maxWorkers ?? Threads.count), tasks)
    if workers <= 1 {
        for t in 0..<tasks { body(0, t) }
        return
    }
    withoutActuallyEscaping(body) { body in
        let job = ParallelJob(tasks: tasks, body: body)
        for w in 1..<workers {
            DispatchQueue.global(qos: .userInitiated).async { job.work(worker: w) }
        }
        job.work(worker: 0)
        job.finish()
    }
}

/// Shared state of one `runParallel` call. The body is reachable only while tasks remain or run:
/// `finish` drops it before `runParallel` returns, so late helpers never touch it.
final class ParallelJob: @unchecked Sendable {
    private let cond = NSCondition()
    private let tasks: Int
    private var next = 0
    private var running = 0
    private var body: ((Int, Int) -> Void)?

    init(tasks: Int, body: @escaping (Int, Int) -> Void) {
        self.tasks = tasks
        self.body = body
    }

    func work(worker: Int) {
        while runOne(worker: worker) {
            cond.lock()
            running -= 1
            if running == 0 && next >= tasks { cond.broadcast() }
            cond.unlock()
        }
    }

    /// Claims and runs one task; false when none is left. The local reference to the body ends with
    /// this call, before the task is reported finished.
    private func runOne(worker: Int) -> Bool {
        cond.lock()
        guard next < tasks, let b = body else { cond.unlock(); return false }
        let t = next
        next += 1
        running += 1
        cond.unlock()
        b(worker, t)
        return true
    }

    func finish() {
        cond.lock()
        while running > 0 || next < tasks { cond.wait() }
        body = nil
        cond.unlock()
    }
}
