// `--refine-from both` (RefinementStarts, SearchPipeline step 6) on the tiny search (TinyPTQSearch.swift):
// an untrained TinyConvNet on generated shapes at W4A3. Checks: both starts (the derived network and the
// best uniform candidate) are refined and the lower final validation score is kept; the refinement from
// the better start is exactly the single refinement of `--refine-from best`, so `both` never ends with a
// worse validation score; the greedy peer reuses the refinement from the best uniform candidate; the
// report, phases and cost rows account for both refinements. `--refine-from all` adds the sensitivity
// selection as a third start, whose refinement is the sensitivity + greedy peer's.

import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSRun

@Suite("Refinement from both starts (--refine-from both)")
struct RefinementStartsTests {
    @Test("both starts are refined, the lower final score is kept, and the better start's refinement is --refine-from best's")
    func bothStartsKeepTheLowerScore() throws {
        let one = try tinyPeerSearch(starts: .best), two = try tinyPeerSearch(peers: [.greedy], starts: .both)
        // The best uniform candidate by its validation score (ties: branch order) and the best start (ties: derived).
        let uniformScores = two.candidates.map { two.validationScores[$0] ?? .infinity }
        let bestUniform = two.candidates[uniformScores.firstIndex(of: uniformScores.min()!)!]
        let derived = try #require(two.validationScores["derived"])
        let bestStart = uniformScores.min()! < derived ? bestUniform : "derived"
        try #require(two.assignment.map(\.derivedActivation) != Array(repeating: bestUniform, count: two.assignment.count)
                     || two.assignment.map(\.derivedWeight) != Array(repeating: bestUniform, count: two.assignment.count),
                     "the tiny search's derived network must differ from the best uniform one for this test")
        #expect(one.refinements.map(\.start) == [bestStart] && one.refineFrom == "best" && two.refineFrom == "both")
        #expect(Set(two.refinements.map(\.start)) == ["derived", bestUniform] && two.refinements[0].start == bestStart)

        // The first refinement of `both` is `best`'s single one, change for change.
        let first = two.refinements[0], single = one.refinements[0]
        #expect(first.validationScore == single.validationScore && first.changes == single.changes
                && first.validationPasses == single.validationPasses)
        for r in two.refinements {
            #expect(r.startScore == two.validationScores[r.start] && r.validationScore <= r.startScore)
        }
        // Kept: exactly one, the lower final score (ties: the first); never worse than `best`.
        let kept = two.refinements.filter(\.kept)
        #expect(kept.count == 1 && kept[0].validationScore == two.refinements.map(\.validationScore).min())
        if two.refinements[1].validationScore == first.validationScore { #expect(two.refinements[0].kept) }
        #expect(two.finalValidationScore == kept[0].validationScore && two.refinedFrom == kept[0].start)
        #expect(two.selectedStart == bestStart && one.selectedStart == bestStart && one.refinedFrom == bestStart)
        #expect(try #require(two.finalValidationScore) <= (try #require(one.finalValidationScore)))
        #expect(kept[0].top1 == two.dqssTop1 && two.refinementEvaluations == kept[0].validationPasses)

        // The greedy peer is the refinement from the best uniform candidate: reused, not repeated.
        let fromUniform = try #require(two.refinements.first { $0.start == bestUniform })
        let greedy = try #require(two.peers.first { $0.peer == "greedy" })
        #expect(greedy.sharedWithDQSS && greedy.validationScore == fromUniform.validationScore)
        #expect(greedy.validationPasses == two.candidates.count + fromUniform.validationPasses)
        // With a peer, the refinement not kept is evaluated too: its top-1 is reported.
        #expect(two.refinements.allSatisfy { $0.top1.map { (0...100).contains($0) } == true })
        if let other = two.refinements.first(where: { !$0.kept }) {
            #expect(two.summary().contains("DQSS refined from \(other.start) (not kept)"))
        }

        // Phases and the DQSS row's cost: both refinements, by start.
        let names = two.phases.map(\.name)
        #expect(names == ["calibrate", "search (annealed)", "derive", "select"] + two.refinements.map { "refine from \($0.start)" }
                + ["greedy from uniform"])
        let dqss = try #require(two.peers.first { $0.peer == "dqss" })
        #expect(dqss.validationPasses == 1 + two.candidates.count + two.refinements.map(\.validationPasses).reduce(0, +))
        #expect(dqss.start == two.refinedFrom && dqss.validationScore == two.finalValidationScore)
        let json = try two.jsonString()
        for key in ["\"refine_from\"", "\"refinements\"", "\"start_score\"", "\"kept\""] { #expect(json.contains(key), "\(key)") }
    }

    @Test("all: the sensitivity selection is a third start; the lowest final score is kept; the sensitivity + greedy peer is that refinement, reused")
    func allStartsAddTheSensitivitySelection() throws {
        let both = try tinyPeerSearch(peers: [.sensitivity, .sensitivityGreedy], starts: .both)
        let all = try tinyPeerSearch(peers: [.sensitivity, .sensitivityGreedy], starts: .all)
        try #require(both.refinements.count == 2, "the tiny search's derived network must differ from the best uniform one")
        #expect(all.refineFrom == "all" && all.refinements.map(\.start) == both.refinements.map(\.start) + ["sensitivity"])
        // The first two are `both`'s, change for change; the third is the peer `both` computed on its own.
        for (a, b) in zip(all.refinements, both.refinements) {
            #expect(a.validationScore == b.validationScore && a.changes == b.changes && a.startScore == b.startScore)
        }
        let alone = try #require(both.peers.first { $0.peer == "sensitivity-greedy" })
        let third = all.refinements[2]
        #expect(all.validationScores["sensitivity"] == nil && !alone.sharedWithDQSS)
        #expect(third.validationScore == alone.validationScore && third.changes == alone.changes)
        let sensitivity = try #require(all.peers.first { $0.peer == "sensitivity" })
        #expect(sensitivity.validationScore == third.startScore)
        let reused = try #require(all.peers.first { $0.peer == "sensitivity-greedy" })
        #expect(reused.sharedWithDQSS && reused.validationScore == third.validationScore && reused.top1 == alone.top1)
        // Kept: the lowest final score of the three (ties: the earlier); never worse than `both`.
        let kept = all.refinements.filter(\.kept)
        #expect(kept.count == 1 && kept[0].validationScore == all.refinements.map(\.validationScore).min())
        #expect(try #require(all.finalValidationScore) <= (try #require(both.finalValidationScore)))
        #expect(all.refinedFrom == kept[0].start && all.dqssTop1 == kept[0].top1)
        // Its cost: the sensitivity pass is part of the DQSS row (one validation pass, its backward batches).
        #expect(all.phases.map(\.name).contains("sensitivity start"))
        let dqss = try #require(all.peers.first { $0.peer == "dqss" })
        #expect(dqss.validationPasses == 1 + all.candidates.count + 1 + all.refinements.map(\.validationPasses).reduce(0, +))
        #expect(dqss.backwardPasses == (both.peers.first { $0.peer == "dqss" }?.backwardPasses ?? -1) + sensitivity.backwardPasses)
    }

    @Test("without refinement passes both reduce to the selection: one start, no second refinement")
    func noPassesNoSecondStart() throws {
        let r = try tinyPeerSearch(starts: .both, refinePasses: 0)
        #expect(r.refinements.count == 1 && r.refinements[0].changes == 0 && r.refinements[0].kept)
        #expect(r.finalValidationScore == r.validationScores.values.min())
    }
}
