// `--select-images` (PTQSearchOptions.selectionImages, SearchTask.hasSelectionData) on the tiny search
// (TinyPTQSearch.swift): further held-out images, drawn after the validation images, choose between the
// refinements of `--refine-from both` (each refinement's validation score is biased low by the trials it
// kept on the validation images). Checks: nothing before the choice changes; the refinement kept is the
// one with the lower selection score; the same network gets the same selection score wherever it is scored
// (the greedy peer is DQSS's refinement from the best uniform candidate); report keys; refusals.

import Foundation
import Testing
import DQSSRun

private func tinySearch(selectionImages: Int) throws -> PTQSearchReport {
    try tinyPTQSearch { o in
        o.peers = SearchPeer.allCases
        o.refineStarts = .both
        o.selectionImages = selectionImages
    }
}

@Suite("Selection images choose between the refinements (--select-images)")
struct SelectionImagesTests {
    @Test("the refinement with the lower selection score is kept; the search, validation scores and refinements are unchanged")
    func lowerSelectionScoreKept() throws {
        let plain = try tinySearch(selectionImages: 0), chosen = try tinySearch(selectionImages: 32)
        // Drawn after the validation images: everything up to the choice is the same computation.
        #expect(chosen.validationScores == plain.validationScores && chosen.derivedTop1 == plain.derivedTop1)
        #expect(chosen.refinements.map(\.validationScore) == plain.refinements.map(\.validationScore))
        #expect(chosen.refinements.map(\.changes) == plain.refinements.map(\.changes))
        #expect(plain.refinements.allSatisfy { $0.selectionScore == nil } && plain.selectionImages == nil)

        try #require(chosen.refinements.count == 2, "the tiny search must refine from two starts for this test")
        let scores = try chosen.refinements.map { try #require($0.selectionScore) }
        #expect(scores.allSatisfy { $0.isFinite && $0 >= 0 })
        let kept = chosen.refinements.filter(\.kept)
        #expect(kept.count == 1 && kept[0].selectionScore == scores.min())
        if scores[0] == scores[1] { #expect(chosen.refinements[0].kept) }
        #expect(chosen.refinedFrom == kept[0].start && chosen.finalValidationScore == kept[0].validationScore)
        #expect(kept[0].top1 == chosen.dqssTop1)

        // The same network scores the same on the selection images wherever it is scored.
        let best = chosen.refinements[0].start == "derived" ? chosen.refinements[1] : chosen.refinements[0]
        let greedy = try #require(chosen.peers.first { $0.peer == "greedy" })
        #expect(greedy.sharedWithDQSS && greedy.selectionScore == best.selectionScore)
        let dqss = try #require(chosen.peers.first { $0.peer == "dqss" })
        #expect(dqss.selectionScore == kept[0].selectionScore)
        #expect(chosen.peers.allSatisfy { $0.selectionScore.map { $0.isFinite } == true })
        #expect(chosen.phases.map(\.name).contains("choose on selection images"))
        let json = try chosen.jsonString()
        #expect(json.contains("\"selection_images\":32") && json.contains("\"selection_score\""))
    }

    @Test("the kept refinement: the lowest selection score when all have one, else the lowest validation score; ties keep the first")
    func keptRule() {
        // Hand values where the two scores disagree.
        #expect(RefinementStarts.kept(validationScores: [0.20, 0.30], selectionScores: [0.50, 0.40]) == 1)
        #expect(RefinementStarts.kept(validationScores: [0.20, 0.30], selectionScores: [nil, nil]) == 0)
        #expect(RefinementStarts.kept(validationScores: [0.30, 0.20], selectionScores: [nil, nil]) == 1)
        #expect(RefinementStarts.kept(validationScores: [0.30, 0.20], selectionScores: [0.40, 0.40]) == 0)
        #expect(RefinementStarts.kept(validationScores: [0.30, 0.20], selectionScores: [0.40, nil]) == 1)
        #expect(RefinementStarts.kept(validationScores: [0.25], selectionScores: [0.9]) == 0)
    }

    @Test("too many selection images for the split are refused, naming the flag")
    func tooManyRefused() throws {
        // 160 generated training images: 64 calibration + 64 validation leave 32.
        #expect { _ = try tinySearch(selectionImages: 33) } throws: { error in
            "\(error)".contains("--select-images 33") && "\(error)".contains("exceed")
        }
    }
}
