// The peer rows of the PTQ search (issue 18; SearchPeer, SearchPipeline step 8) on a tiny case: an
// untrained TinyConvNet on generated shapes at W4A3 (where the candidates differ), a 2-epoch search.
// Checks: the greedy peers never end worse on the validation score than where they started; the report
// carries the peer rows with their costs and every phase with its time and score; the DQSS rows are the
// same with and without the peers; the sensitivity pass does not depend on how the images are batched
// (its activation side).

import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSRun

@Suite("Peer rows of the PTQ search (issue 18)")
struct SearchPeerTests {
    @Test("the report carries the DQSS row and every peer with its cost, and every phase with its time and score; greedy never ends worse than its start")
    func peerRowsAndPhases() throws {
        let r = try tinyPeerSearch(peers: SearchPeer.allCases)
        #expect(r.peers.map(\.peer) == ["dqss", "greedy", "sensitivity", "sensitivity-greedy"])
        let row = Dictionary(uniqueKeysWithValues: r.peers.map { ($0.peer, $0) })
        let dqss = try #require(row["dqss"]), greedy = try #require(row["greedy"])
        let sensitivity = try #require(row["sensitivity"]), refined = try #require(row["sensitivity-greedy"])
        #expect(dqss.top1 == r.dqssTop1 && dqss.validationPasses == 4 + 1 + r.refinementEvaluations)
        #expect(dqss.backwardPasses == r.searches[0].steps)
        // Greedy from uniform: the four uniform scores plus one per tried change, no backward pass.
        #expect(greedy.validationPasses > 4 && greedy.backwardPasses == 0 && greedy.seconds > 0)
        // Sensitivity: one backward per calibration batch (64 images in batches of 32), no validation pass.
        #expect(sensitivity.backwardPasses == 2 && sensitivity.validationPasses == 0 && sensitivity.seconds > 0)
        #expect(refined.validationPasses > 1 && refined.backwardPasses == 2 && refined.seconds > sensitivity.seconds)
        for p in r.peers {
            #expect((0...100).contains(p.top1) && p.validationScore.map { $0.isFinite && $0 >= 0 } == true)
            #expect(p.activationCounts.values.reduce(0, +) == r.assignment.count)
        }
        // Never worse than the start, by the score the refinement minimises.
        let start = try #require(greedy.start.flatMap { r.validationScores[$0] })
        #expect(r.validationScores.filter { $0.key != "derived" }.values.min() == start)
        #expect(try #require(greedy.validationScore) <= start)
        #expect(try #require(refined.validationScore) <= (try #require(sensitivity.validationScore)))
        if greedy.changes == 0 { #expect(greedy.validationScore == start) }

        #expect(r.phases.map(\.name) == ["calibrate", "search (annealed)", "derive", "select", "refine",
                                         "greedy from uniform", "sensitivity selection", "sensitivity + greedy"])
        for p in r.phases {
            #expect(p.seconds > 0, "\(p.name)")
            #expect((p.validationScore == nil) == (p.name == "calibrate"), "\(p.name)")
        }
        let phase = Dictionary(uniqueKeysWithValues: r.phases.map { ($0.name, $0) })
        #expect(phase["derive"]?.top1 == r.derivedTop1 && phase["refine"]?.top1 == r.dqssTop1)
        #expect(phase["refine"]?.validationScore == r.finalValidationScore)
        #expect(phase["select"]?.validationScore == r.validationScores[r.selectedStart])
        // search.json: the rows and the phases, snake_case.
        let json = try r.jsonString()
        for key in ["\"peers\"", "\"phases\"", "\"validation_passes\"", "\"backward_passes\"", "\"shared_with_dqss\""] {
            #expect(json.contains(key), "\(key)")
        }
        #expect(r.peerMarkdownRows().count == 4 && r.summary().contains("sensitivity + greedy"))
    }

    @Test("the DQSS rows are the same with and without the peers", arguments: RefinementStarts.allCases)
    func peersChangeNothingElse(_ starts: RefinementStarts) throws {
        let with = try tinyPeerSearch(peers: SearchPeer.allCases, starts: starts), without = try tinyPeerSearch(peers: [], starts: starts)
        #expect(without.peers.map(\.peer) == ["dqss"] && without.peerMarkdownRows().isEmpty)
        #expect(with.uniform == without.uniform && with.dqssNoneTop1 == without.dqssNoneTop1)
        #expect(with.derivedTop1 == without.derivedTop1 && with.dqssTop1 == without.dqssTop1)
        #expect(with.validationScores == without.validationScores && with.finalValidationScore == without.finalValidationScore)
        #expect(with.selectedStart == without.selectedStart && with.refinementEvaluations == without.refinementEvaluations)
        #expect(with.assignment.map(\.activation) == without.assignment.map(\.activation))
        #expect(with.assignment.map(\.weight) == without.assignment.map(\.weight))
    }

    @Test("the refinements reusing the network's unchanged prefix give every score, change and row of full passes")
    func prefixReuseChangesNothing() throws {
        let staged = try tinyPeerSearch(peers: SearchPeer.allCases), full = try tinyPeerSearch(peers: SearchPeer.allCases, reusesPrefix: false)
        #expect(staged.refinementEvaluations > 0)
        #expect(staged.finalValidationScore == full.finalValidationScore && staged.dqssTop1 == full.dqssTop1)
        #expect(staged.refinementChanges.map(\.score) == full.refinementChanges.map(\.score))
        #expect(staged.refinementChanges.map(\.layer) == full.refinementChanges.map(\.layer))
        #expect(staged.assignment.map(\.activation) == full.assignment.map(\.activation))
        #expect(staged.assignment.map(\.weight) == full.assignment.map(\.weight))
        #expect(staged.peers.map(\.validationScore) == full.peers.map(\.validationScore))
        #expect(staged.peers.map(\.top1) == full.peers.map(\.top1))
    }

    @Test("the sensitivity pass sums per-image losses: the activation scores do not depend on the batch size")
    func batchingIndependence() throws {
        let train = SyntheticDataset(count: 12, seed: 7)
        var rng = RNG(seed: 2)
        let model = TinyConvNet(classes: train.classCount, rng: &rng)
        let (images, labels) = try generatedSource(train).gather(Array(0..<12))
        let loss = ClassificationSearchLoss(images: images, labels: labels)
        let points = QuantizedModel.points(of: model)
        let table = CandidateTable(names: ["a", "b"], layers: [0.3, 0.9].map { f in
            points.map { LayerQuantization(name: $0.name, weightBits: 4, activationBits: 3, activationUnsigned: false,
                                           thresholds: LayerThresholds(weight: f * $0.layer.weight.value.maxAbs(), activation: f * 2)) }
        })
        func scores(_ batch: Int) -> (SensitivityScores, Int) {
            SensitivitySelection.scores(model: model, points: points, table: table) { loss.sensitivityPasses(model, batchSize: batch) }
        }
        let (one, passesOne) = scores(12), (many, passesMany) = scores(5)
        #expect(passesOne == 1 && passesMany == 3)
        for (a, b) in zip(one.activation.joined(), many.activation.joined()) {
            #expect(a > 0 && abs(a - b) <= 1e-4 * a)
        }
    }
}
