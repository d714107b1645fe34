// Step 8 of the search pipeline: the peer rows (SearchPeer) from the thresholds the DQSS search used,
// scored by the same task score on the same validation images, each evaluated on the test split unless
// the same network was evaluated already (the rows are deterministic functions of the choice).

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch

extension SearchPipeline {
    typealias Peer = SearchPipelineResult<Task.Evaluation>.Peer
    /// A uniform candidate as a start: its branch index, name and validation score.
    typealias UniformStart = (index: Int, name: String, score: Double)

    /// The sensitivity selection (peer (b), and with RefinementStarts.all step 6's third start): its choice,
    /// scores, seconds and backward batches, and its validation score with the seconds that score took.
    typealias SensitivityStart = (choice: StrategyChoice, scores: SensitivityScores, seconds: Double, batches: Int, score: Double,
                                  scoreSeconds: Double)

    /// One sensitivity pass over the calibration images (scores summed over the ranks), then the chosen
    /// network's validation score.
    func sensitivitySelection(_ network: any UnaryLayer, table: CandidateTable, points: [QuantizationPoint],
                              calibrationBatch: Int) -> SensitivityStart {
        let t = Date()
        let pass = SensitivitySelection.scores(model: network, points: points, table: table) {
            task.loss.sensitivityPasses(network, batchSize: calibrationBatch)
        }
        var scores = pass.scores
        let batches = pass.result
        if communicator.size > 1 {
            var flat = scores.flattened
            communicator.allreduce(&flat, .sum)
            scores = scores.reshaped(flat)
        }
        let choice = scores.selection, seconds = Date().timeIntervalSince(t)
        log.progress(String(format: "sensitivity selection: %d backward pass(es) over the calibration images, %.1f s\n",
                            batches, seconds))
        let scored = Date()
        QuantizedModel.install(points, assignments: table.quantization(choice))
        let score = task.score(network)
        QuantizedModel.removeHooks(points)
        return (choice, scores, seconds, batches, score, Date().timeIntervalSince(scored))
    }

    /// The best uniform candidate by the validation score, ties -> branch order; nil when none was scored.
    /// Step 6's uniform start and the greedy peer's start, so both are the same candidate by construction.
    static func bestUniform(_ names: [String], scores: [String: Double]) -> UniformStart? {
        var best: UniformStart?
        for (c, name) in names.enumerated() {
            if let s = scores[name], s < (best?.score ?? .infinity) { best = (c, name, s) }
        }
        return best
    }

    /// Run `peers` in order. `uniformStart`: the best uniform candidate (step 6's, from the scores of step 3,
    /// `uniformScoring` seconds); `sensitivityStart`: step 6's sensitivity selection when it ran one
    /// (RefinementStarts.all), reused; `dqss`: the DQSS refinements (reused by the greedy peers that start
    /// where one of them started, kept or not); `evaluate`: the test-split evaluation of a quantization as a stage.
    func runPeers(_ network: any UnaryLayer, table: CandidateTable, points: [QuantizationPoint],
                  uniformStart: UniformStart?, uniformScoring: Double, sensitivityStart: SensitivityStart? = nil,
                  dqss: [SearchPipelineResult<Task.Evaluation>.Refinement], calibrationBatch: Int,
                  evaluated: inout [(choice: StrategyChoice, evaluation: Task.Evaluation)],
                  evaluate: ([LayerQuantization], SearchStage) throws -> Task.Evaluation) throws -> [Peer] {
        func evaluation(_ choice: StrategyChoice, _ peer: SearchPeer) throws -> Task.Evaluation {
            if let e = evaluated.first(where: { $0.choice == choice })?.evaluation { return e }
            let e = try evaluate(table.quantization(choice), .peer(peer.label))
            evaluated.append((choice, e))
            return e
        }
        var rows: [Peer] = []
        var sensitivity = sensitivityStart

        if peers.contains(.greedy), let start = uniformStart {
            let (best, name, startScore) = start
            // DQSS's refinement is this peer's only when it used the same (plain) rule.
            let same = refineSignificance == nil ? dqss.first { $0.start == name } : nil, shared = same != nil
            let result: GreedyRefinement.Result, seconds: Double
            if let dqss = same {
                // Same start, same score, same deterministic refinement: the DQSS one is this peer's run.
                (result, seconds) = (dqss.result, dqss.seconds)
                log.progress("greedy from uniform: starts from \(name), as DQSS did: its refinement is reused\n")
            } else {
                log.progress("greedy from uniform: start from \(name) (validation score \(String(format: "%.5f", startScore)))\n")
                let t = Date()
                result = refine(network, .uniform(best, layers: points.count), score: startScore, table: table, points: points,
                                label: "greedy from \(name)")
                seconds = Date().timeIntervalSince(t)
            }
            rows.append(Peer(peer: .greedy, start: name, choice: result.choice, validationScore: result.score,
                             seconds: uniformScoring + seconds, validationPasses: table.names.count + result.evaluations,
                             backwardPasses: 0, refinement: result, sensitivity: nil, sharedWithDQSS: shared,
                             evaluation: try evaluation(result.choice, .greedy)))
        }

        if sensitivity == nil && (peers.contains(.sensitivity) || peers.contains(.sensitivityGreedy)) {
            sensitivity = sensitivitySelection(network, table: table, points: points, calibrationBatch: calibrationBatch)
        }
        if peers.contains(.sensitivity), let s = sensitivity {
            // The method needs no validation pass; its score above is for the report (and (c)'s start).
            rows.append(Peer(peer: .sensitivity, start: nil, choice: s.choice, validationScore: s.score, seconds: s.seconds,
                             validationPasses: 0, backwardPasses: s.batches, refinement: nil, sensitivity: s.scores,
                             sharedWithDQSS: false, evaluation: try evaluation(s.choice, .sensitivity)))
        }
        if peers.contains(.sensitivityGreedy), let s = sensitivity {
            let same = refineSignificance == nil ? dqss.first { $0.start == "sensitivity" } : nil
            let result: GreedyRefinement.Result, refineSeconds: Double
            if let dqss = same {
                (result, refineSeconds) = (dqss.result, dqss.seconds)
                log.progress("greedy from sensitivity: DQSS refined from the same start: its refinement is reused\n")
            } else {
                let t = Date()
                result = refine(network, s.choice, score: s.score, table: table, points: points, label: "greedy from sensitivity")
                refineSeconds = Date().timeIntervalSince(t)
            }
            let seconds = s.seconds + s.scoreSeconds + refineSeconds
            rows.append(Peer(peer: .sensitivityGreedy, start: "sensitivity", choice: result.choice, validationScore: result.score,
                             seconds: seconds, validationPasses: 1 + result.evaluations, backwardPasses: s.batches,
                             refinement: result, sensitivity: nil, sharedWithDQSS: same != nil,
                             evaluation: try evaluation(result.choice, .sensitivityGreedy)))
        }
        return rows
    }
}
