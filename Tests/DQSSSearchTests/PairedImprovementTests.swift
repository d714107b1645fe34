// The refinement's significance gate (PairedImprovement) against hand-computed paired statistics.

import Testing
import DQSSSearch

@Suite("PairedImprovement (the refinement's significance gate)")
struct PairedImprovementTests {
    @Test("differences, mean and standard error match the hand computation; the gate keeps by z")
    func handComputed() {
        // d = [-0.3, -0.1, -0.2]: mean -0.2, sample variance ((0.01 + 0.01 + 0) / 2) = 0.01, s = 0.1,
        // standard error 0.1 / √3 = 0.0577350.
        let p = PairedImprovement(trial: [1.0, 2.0, 3.0], current: [1.3, 2.1, 3.2])
        #expect(p.count == 3)
        #expect(abs(p.sum - -0.6) < 1e-12 && abs(p.sumOfSquares - 0.14) < 1e-12)
        #expect(abs(p.mean - -0.2) < 1e-12)
        #expect(abs(p.standardError - 0.0577350269) < 1e-9)
        // -0.2 + 3 · 0.0577 = -0.027 < 0: kept at z = 3; -0.2 + 4 · 0.0577 = +0.031: refused at z = 4.
        #expect(p.isImprovement(z: 0) && p.isImprovement(z: 3) && !p.isImprovement(z: 4))
    }

    @Test("a trial no better on average is never kept; equal scores are no improvement at z = 0")
    func noImprovement() {
        let worse = PairedImprovement(trial: [1.0, 1.0], current: [0.9, 1.05])   // mean +0.025
        #expect(!worse.isImprovement(z: 0) && !worse.isImprovement(z: 2))
        let same = PairedImprovement(trial: [0.5, 0.7], current: [0.5, 0.7])
        #expect(same.standardError == 0 && !same.isImprovement(z: 0))
        // Identical decreases on every image: zero variance, kept at any z.
        let sure = PairedImprovement(trial: [0.4, 0.6], current: [0.5, 0.7])
        #expect(sure.standardError < 1e-12 && sure.isImprovement(z: 100))
    }

    @Test("the three sums of two shards give the statistics of all images (what ranks allreduce)")
    func shardsAdd() {
        let trial = [0.31, 0.12, 0.55, 0.09, 0.71], current = [0.35, 0.10, 0.61, 0.12, 0.70]
        let all = PairedImprovement(trial: trial, current: current)
        let a = PairedImprovement(trial: Array(trial[..<2]), current: Array(current[..<2]))
        let b = PairedImprovement(trial: Array(trial[2...]), current: Array(current[2...]))
        let sum = PairedImprovement(sum: a.sum + b.sum, sumOfSquares: a.sumOfSquares + b.sumOfSquares, count: a.count + b.count)
        #expect(abs(sum.mean - all.mean) < 1e-15 && abs(sum.standardError - all.standardError) < 1e-15)
        // d = [-.04, .02, -.06, -.03, .01]: mean -0.02, s² = (0.0066 - 5 · 0.0004) / 4 = 0.00115.
        #expect(abs(all.mean - -0.02) < 1e-12)
        #expect(abs(all.standardError - (0.00115 / 5).squareRoot()) < 1e-12)
    }
}
