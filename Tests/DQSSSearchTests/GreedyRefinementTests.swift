import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch

/// Three candidates over four layers whose thresholds encode (candidate, layer), so a score function can
/// read the choice back from the quantization it is given.
private func table(layers: Int = 4, duplicate: (candidate: Int, layer: Int)? = nil) -> CandidateTable {
    let names = ["A", "B", "C"]
    return CandidateTable(names: names, layers: names.indices.map { c in
        (0..<layers).map { l in
            // `duplicate`: that candidate copies candidate 0's thresholds on that layer (same network).
            let k = duplicate.map { $0.candidate == c && $0.layer == l } == true ? 0 : c
            return LayerQuantization(name: "layer\(l)", weightBits: 4, activationBits: 8, activationUnsigned: true,
                                     thresholds: LayerThresholds(weight: Float(1 + k) + Float(l) / 10,
                                                                 activation: Float(10 + k) + Float(l) / 10))
        }
    })
}

/// Candidate index of each side, read back from the thresholds.
private func decode(_ q: [LayerQuantization]) -> (a: [Int], w: [Int]) {
    (q.map { Int($0.thresholds.activation) - 10 }, q.map { Int($0.thresholds.weight) - 1 })
}

@Suite("Greedy refinement (§6.2)")
struct GreedyRefinementTests {
    @Test("a layer quantization takes its activation side from one candidate and its weight side from another")
    func mixedLayer() {
        let t = table()
        let q = t.layer(2, activation: 1, weight: 2)
        #expect(q.thresholds.activation == 11.2 && q.thresholds.weight == 3.2)
        #expect(q.name == "layer2" && q.weightBits == 4 && q.activationBits == 8 && q.activationUnsigned)
        #expect(decode(t.quantization(StrategyChoice(activation: [0, 1, 2, 0], weight: [2, 2, 1, 0]))).w == [2, 2, 1, 0])
    }

    @Test("with a separable score one pass finds the best candidate of every tensor, keeping only strict decreases")
    func separableScore() {
        let t = table()
        // Cost of (layer, side, candidate); the best choice is activation [2,0,1,2], weight [1,1,0,2]
        // (layer 3's activation: B ties A at 9 and is not taken; C is).
        let costA: [[Double]] = [[3, 2, 1], [0, 5, 5], [4, 1, 2], [9, 9, 0]]
        let costW: [[Double]] = [[2, 0, 7], [1, 0, 3], [0, 0.5, 0.7], [3, 3, 1]]
        var calls = 0
        func score(_ q: [LayerQuantization]) -> Double {
            calls += 1
            let (a, w) = decode(q)
            return (0..<4).reduce(0) { $0 + costA[$1][a[$1]] + costW[$1][w[$1]] }
        }
        let start = StrategyChoice.uniform(0, layers: 4)
        let r = GreedyRefinement.refine(start: start, startScore: score(t.quantization(start)), table: t,
                                        passes: 3, score: score)
        #expect(r.choice.activation == [2, 0, 1, 2])
        #expect(r.choice.weight == [1, 1, 0, 2])
        #expect(r.score == (1 + 0 + 1 + 0) + (0 + 0 + 0 + 1))
        #expect(calls == 1 + 32)
        // Pass 1 tries the 2 other candidates of each of the 8 tensors; pass 2 tries them again and keeps
        // nothing, so the refinement stops there.
        #expect(r.evaluations == 32 && r.passes == 2)
        // layer0 a: A->B, B->C; w: A->B; layer1 w: A->B; layer2 a: A->B; layer3 a: A->C, w: A->C
        #expect(r.changes.map { "\($0.layer) \($0.side.rawValue) \($0.from)->\($0.to)" } == [
            "layer0 activation A->B", "layer0 activation B->C", "layer0 weight A->B", "layer1 weight A->B",
            "layer2 activation A->B", "layer3 activation A->C", "layer3 weight A->C"])
        #expect(r.changes.map(\.score) == r.changes.map(\.score).sorted(by: >))
    }

    @Test("zero passes keep the start; a candidate with the current threshold is not scored again")
    func skipsAndZeroPasses() {
        let t = table(duplicate: (candidate: 1, layer: 0))
        var scored: [[Int]] = []
        func score(_ q: [LayerQuantization]) -> Double {
            let (a, w) = decode(q)
            scored.append(a + w)
            return 1
        }
        let start = StrategyChoice.uniform(0, layers: 4)
        let none = GreedyRefinement.refine(start: start, startScore: 1, table: t, passes: 0, score: score)
        #expect(none.choice == start && none.evaluations == 0 && scored.isEmpty)
        let one = GreedyRefinement.refine(start: start, startScore: 1, table: t, passes: 1, score: score)
        // 8 tensors x 2 other candidates, minus the two sides of layer 0 where B equals A.
        #expect(one.evaluations == 14 && one.changes.isEmpty && one.choice == start)
    }

    @Test("with the scorer's verdict only the trials it keeps change the choice, though others score lower")
    func verdictDecides() {
        let t = table()
        // Every trial scores lower than the current network; the verdict keeps only candidate C's weights.
        var current = 10.0
        let start = StrategyChoice.uniform(0, layers: 4)
        let r = GreedyRefinement.refine(start: start, startScore: current, table: t, passes: 1, trial: { q, layer, best in
            #expect(best == current)
            let (a, w) = decode(q)
            let s = best - 1
            return GreedyRefinement.Verdict(score: s, improves: w[layer] == 2 && a[layer] == 0)
        }, kept: { current -= 1 })
        #expect(r.choice.activation == [0, 0, 0, 0] && r.choice.weight == [2, 2, 2, 2])
        #expect(r.changes.count == 4 && r.changes.allSatisfy { $0.side == .weight && $0.to == "C" })
        #expect(r.evaluations == 16 && r.score == 6)
        // The plain rule (score only) keeps every trial of the same falling scores.
        var calls = 0
        let plain = GreedyRefinement.refine(start: start, startScore: 10, table: t, passes: 1,
                                            trialScore: { _, _ in calls += 1; return 10 - Double(calls) }, kept: {})
        #expect(plain.changes.count == 16 && plain.score == -6)
    }
}
