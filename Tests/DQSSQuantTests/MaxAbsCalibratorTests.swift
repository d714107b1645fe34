import Testing
import DQSSTensor
import DQSSQuant

@Suite("Max_Abs calibration")
struct MaxAbsCalibratorTests {
    @Test("§11.2: streaming over [[0.1, -3.0], [2.0, 0.5]] and [[-1.0, 2.9]] gives T = 3.0 in either order")
    func streaming() {
        let a = Tensor(shape: [2, 2], values: [0.1, -3.0, 2.0, 0.5])
        let b = Tensor(shape: [1, 2], values: [-1.0, 2.9])
        var s1 = MaxAbsStatistic(); s1.observe(a); s1.observe(b)
        var s2 = MaxAbsStatistic(); s2.observe(b); s2.observe(a)
        #expect(s1.maxAbs == 3.0)
        #expect(s2.maxAbs == 3.0)
        // Merging per-batch statistics (as MPI ranks would) gives the same.
        var sa = MaxAbsStatistic(); sa.observe(a)
        var sb = MaxAbsStatistic(); sb.observe(b)
        sb.merge(sa)
        #expect(sb.maxAbs == 3.0)
        #expect(sb.count == 6)
    }

    @Test("thresholds are invariant to the order of calibration batches")
    func orderInvariance() {
        var rng = RNG(seed: 5)
        let batches = (0..<6).map { _ in Tensor.normal([4, 10], rng: &rng) }
        var forward = MaxAbsStatistic(), backward = MaxAbsStatistic()
        for b in batches { forward.observe(b) }
        for b in batches.reversed() { backward.observe(b) }
        #expect(forward == backward)
    }
}
