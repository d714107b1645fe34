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

    /// Default: the number of cores this process may use (the measured best on the 2-core machines:
    /// see README "Speed").
    public static var defaultCount: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Set the number of threads used by OpenBLAS and by the Dispatch-parallel loops.
    public static func configure(_ n: Int) {
        precondition(n >= 1, "--threads must be at least 1")
        current = n
        openblas_set_num_threads(Int32(n))
    }

    public static var count: Int { current }
}

/// Run `body(range)` over `0..<n` split into at most `Threads.count` contiguous chunks of at least
/// `minChunk` items. Chunk boundaries depend only on `n`, `minChunk` and the thread count.
@inlinable
public func parallelRanges(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    if n <= 0 { return }
    let chunks = min(Threads.count, max(1, n / max(minChunk, 1)))
    if chunks <= 1 { body(0..<n); return }
    // Kernels capture raw pointers into disjoint ranges; Dispatch wants a @Sendable closure, so the
    // (non-escaping, race-free by construction) body is passed through unchecked.
    withoutActuallyEscaping(body) { body in
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = n * c / chunks, hi = n * (c + 1) / chunks
            body(lo..<hi)
        }
    }
}

/// Run `body(i)` for every i in `0..<n`, spread over the threads (each index exactly once).
@inlinable
public func parallelFor(_ n: Int, minChunk: Int = 1, _ body: (Int) -> Void) {
    parallelRanges(n, minChunk: minChunk) { r in for i in r { body(i) } }
}
