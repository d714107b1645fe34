import Testing
import DQSSTensor

@Suite("RNG")
struct RNGTests {
    @Test("same seed gives the same sequence; known first values pin it across machines")
    func deterministic() {
        var a = RNG(seed: 42), b = RNG(seed: 42)
        let xs = (0..<5).map { _ in a.next() }
        #expect(xs == (0..<5).map { _ in b.next() })
        // xoshiro256** seeded by SplitMix64, values from an independent Python implementation.
        #expect(Array(xs.prefix(3)) == [1546998764402558742, 6990951692964543102, 12544586762248559009])
        var c = RNG(seed: 43)
        #expect(c.next() != xs[0])
    }

    @Test("uniform stays in [0,1) and int(below:) covers its range")
    func ranges() {
        var r = RNG(seed: 1)
        var seen = Set<Int>()
        for _ in 0..<1000 {
            let u = r.uniform()
            #expect(u >= 0 && u < 1)
            seen.insert(r.int(below: 7))
        }
        #expect(seen == Set(0..<7))
    }

    @Test("state round-trips exactly")
    func stateRoundTrip() {
        var r = RNG(seed: 9)
        _ = r.next()
        var s = RNG(state: r.state)
        #expect(r.next() == s.next())
    }
}
