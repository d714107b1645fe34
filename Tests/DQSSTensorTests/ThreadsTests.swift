import Testing
import DQSSTensor

@Suite("Threads", .serialized)
struct ThreadsTests {
    @Test("runParallel runs every task exactly once, worker ids stay below min(threads, tasks)")
    func runParallelCoversTasks() {
        let saved = Threads.count
        defer { Threads.configure(saved) }
        for threads in [1, 2, 3] {
            Threads.configure(threads)
            for tasks in [0, 1, 2, 5, 64] {
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(tasks, 1))
                hits.initialize(repeating: 0, count: max(tasks, 1))
                let workers = UnsafeMutablePointer<Int>.allocate(capacity: max(tasks, 1))
                runParallel(tasks: tasks) { w, t in hits[t] += 1; workers[t] = w }
                for t in 0..<tasks {
                    #expect(hits[t] == 1, "threads \(threads) tasks \(tasks) task \(t)")
                    #expect(workers[t] >= 0 && workers[t] < min(threads, tasks))
                }
                hits.deallocate(); workers.deallocate()
            }
        }
    }

    @Test("parallelRanges tiles 0..<n with disjoint contiguous ranges")
    func parallelRangesTiles() {
        let saved = Threads.count
        defer { Threads.configure(saved) }
        Threads.configure(2)
        for n in [1, 7, 100_000] {
            let hits = UnsafeMutablePointer<Int32>.allocate(capacity: n)
            hits.initialize(repeating: 0, count: n)
            parallelRanges(n, minChunk: 3) { r in for i in r { hits[i] += 1 } }
            #expect((0..<n).allSatisfy { hits[$0] == 1 }, "n \(n)")
            hits.deallocate()
        }
    }
}
