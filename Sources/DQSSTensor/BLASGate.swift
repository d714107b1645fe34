// BLASGate: one gate for OpenBLAS's process-wide thread count.
//
// The convolution kernels run many single-threaded GEMMs at once from their own workers (runChunks sets
// OpenBLAS to one thread for that); every other GEMM (Linear, a convolution of a single chunk) runs on
// OpenBLAS's own threads. OpenBLAS's thread count is one global setting, and changing it while another
// thread's multithreaded GEMM runs, or running two multithreaded GEMMs from two threads, is a race inside
// OpenBLAS: two searches run at once in one process (the test suite does) gave different validation scores
// now and then. The gate makes both safe: sections of one mode may run together (serial sections, i.e.
// single-threaded GEMMs, any number at once), multithreaded GEMMs run one at a time, and the setting is only
// changed when no section of the other mode runs. One process running one job at a time never waits here.

import Foundation
import _CBLAS

final class BLASGate: @unchecked Sendable {
    enum Mode { case serial, threaded }

    static let shared = BLASGate()

    private let cond = NSCondition()
    private var mode: Mode?
    private var active = 0
    /// What OpenBLAS is set to now (nil: unknown, set on the next section).
    private var setting: Int32?

    /// Run `body` in `mode`: OpenBLAS set to one thread (serial) or to `Threads.count` (threaded).
    func run<T>(_ m: Mode, _ body: () throws -> T) rethrows -> T {
        cond.lock()
        while active > 0 && (mode != m || m == .threaded) { cond.wait() }
        let want: Int32 = m == .serial ? 1 : Int32(Threads.count)
        if setting != want {
            openblas_set_num_threads(want)
            setting = want
        }
        mode = m
        active += 1
        cond.unlock()
        defer {
            cond.lock()
            active -= 1
            if active == 0 { cond.broadcast() }
            cond.unlock()
        }
        return try body()
    }

    /// `Threads.configure` changed the count: set it at the next section (after the running ones end).
    func invalidate() {
        cond.lock()
        while active > 0 { cond.wait() }
        setting = nil
        cond.unlock()
    }
}
