import ArgumentParser
import DQSSTensor
import DQSSRun

/// `--threads N`, shared by every command that computes: declared, validated and applied in one place.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads for BLAS and parallel loops (default: all cores).")
    var threads: Int?

    func validate() throws {
        try requireAtLeast(1, "--threads", threads)
    }

    /// Sets the thread count of BLAS and `parallelFor`; without `--threads` the default (all cores) stays.
    func apply() {
        if let threads { Threads.configure(threads) }
    }
}
