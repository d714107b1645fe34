// SearchPipeline: the DQSS PTQ search as one pipeline (ALGORITHMS.md §6 with §6.1 and §6.2), shared by
// the classification search (`dqss search --mode ptq`, `dqss demo`), the SR search (`--task sr`) and the
// mpirun self-check (dqss-mpitest). What differs between them is the task (SearchTask): evaluation,
// selection score and search loss. The steps:
//
//   1. evaluate the FP32 network;
//   2. calibrate: every candidate's (T_w, T_a) per layer from FP32 passes over the calibration batches
//      (statistics combined over the ranks); frozen from here on (§6 step 2);
//   3. evaluate and score every uniform candidate;
//   4. DQSS-None (§6.1): evaluate the soft mixture with θ = 1/N;
//   5. search α, β with the task's loss, once per PTQSearchSettings (same thresholds); derive by argmax
//      (Eq. 6), install the plain §1 quantizers of the winners, evaluate;
//   6. select (§6.2): score the main search's derived assignment; start from the best of it and the
//      uniform candidates (ties: derived), refine greedily (GreedyRefinement) with the same score; with
//      RefinementStarts.both also from the other of (derived, best uniform), with .all also from the
//      sensitivity selection (SearchPipeline+Peers), keeping the lowest final score
//      (on the task's selection images when it has them: data none of the refinements was fitted to);
//   7. the final network's evaluation: reused when the same network was evaluated before, unless the task
//      wants its own row;
//   8. the peers (SearchPeer: greedy from uniform, sensitivity selection, greedy from it) from the same
//      thresholds, scored on the same held-out data, each evaluated as its own row.
//
// Every step is also recorded as a phase (time, validation score, validation passes). Steps 1–7 compute
// exactly what they computed before the peers existed; the phases only add one validation pass per
// search (the soft mixture at its final τ), after the search, which changes nothing downstream.
// Without held-out data (task.hasHeldOutData false) steps 6 and 7 reduce to "the derived network is final".
// Every rank runs every step; collectives happen inside calibration, the loss and the task.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch
import DQSSDistributed

/// The calibrate → search → derive → select → refine → evaluate pipeline over a task (file header).
public struct SearchPipeline<Task: SearchTask> {
    public var task: Task
    /// PTQ candidates in branch (tie-break) order.
    public var methods: [PTQMethod]
    public var ptq: PTQSettings
    /// The searches to run from the same thresholds; the last is the main one. Never empty.
    public var searches: [PTQSearchSettings]
    /// Greedy refinement passes after the selection (§6.2); 0: selection only. Also the greedy peers'.
    public var refinePasses: Int
    /// Where the refinement starts: the best start only, or the derived network and the best uniform candidate.
    public var refineStarts: RefinementStarts
    /// The significance gate of DQSS's refinements (`--refine-significance`, PairedImprovement): a change is
    /// kept only when it lowers the per-image scores by more than this many standard errors. nil: the plain
    /// rule. The peers' greedy refinements always keep the plain rule (they are what users run instead).
    public var refineSignificance: Double? = nil
    /// The peer rows to run after the DQSS search (step 8); they need held-out data.
    public var peers: [SearchPeer]
    /// Calibration statistics are combined over it.
    public var communicator: any Communicator
    /// Progress on stderr (rank 0 only).
    public var log: RankLog

    public init(task: Task, methods: [PTQMethod] = PTQMethod.paperCandidates, ptq: PTQSettings = PTQSettings(),
                searches: [PTQSearchSettings] = [.annealed], refinePasses: Int = 1, refineStarts: RefinementStarts = .all,
                peers: [SearchPeer] = [],
                communicator: any Communicator = SingleProcess(), quiet: Bool = false) {
        precondition(!searches.isEmpty && !methods.isEmpty, "a search pipeline needs a search and a candidate")
        self.task = task
        self.methods = methods
        self.ptq = ptq
        self.searches = searches
        self.refinePasses = refinePasses
        self.refineStarts = refineStarts
        self.peers = peers
        self.communicator = communicator
        log = RankLog(communicator: communicator, quiet: quiet)
    }

    /// Run steps 1–7 on `network` (its weights frozen by the search). `calibration`: this rank's
    /// calibration batches, whose first image is global image `firstImage`.
    public func run(_ network: any UnaryLayer, calibration batches: [Tensor], firstImage: Int = 0) throws
        -> SearchPipelineResult<Task.Evaluation> {
        var timings: [String: Double] = [:], phases: [SearchPipelineResult<Task.Evaluation>.Phase] = []
        func timed<T>(_ key: String, _ body: () throws -> T) rethrows -> T {
            let t = Date()
            defer { timings[key, default: 0] += Date().timeIntervalSince(t) }
            return try body()
        }
        func phase(_ name: String, _ seconds: Double, score: Double?, passes: Int = 0, backward: Int = 0,
                   _ evaluation: Task.Evaluation? = nil) {
            phases.append(.init(name: name, seconds: seconds, validationScore: score, validationPasses: passes,
                                backwardPasses: backward, evaluation: evaluation))
        }

        // 1. FP32.
        let fp32 = try timed("evaluation") { try task.evaluate(network, .fp32) }

        // 2. Calibration.
        let calibrationStart = Date()
        let (points, table) = try calibrate(network, batches, firstImage: firstImage)
        timings["calibration"] = Date().timeIntervalSince(calibrationStart)
        phase("calibrate", timings["calibration"] ?? 0, score: nil)
        func installed<T>(_ q: [LayerQuantization], _ body: () throws -> T) rethrows -> T {
            QuantizedModel.install(points, assignments: q)
            defer { QuantizedModel.removeHooks(points) }
            return try body()
        }

        // 3. Uniform candidates.
        var uniform: [Task.Evaluation] = [], scores: [String: Double] = [:]
        var evaluated: [(choice: StrategyChoice, evaluation: Task.Evaluation)] = []
        var uniformScoring = 0.0
        for (c, name) in table.names.enumerated() {
            let choice = StrategyChoice.uniform(c, layers: points.count)
            try installed(table.quantization(choice)) {
                let e = try timed("evaluation") { try task.evaluate(network, .uniform(name)) }
                uniform.append(e)
                evaluated.append((choice, e))
                if task.hasHeldOutData {
                    let t = Date()
                    scores[name] = timed("selection") { task.score(network) }
                    uniformScoring += Date().timeIntervalSince(t)
                }
            }
        }

        // 4. DQSS-None.
        let none: Task.Evaluation
        do {
            let mixed = try mixture(network, table)
            defer { mixed.remove() }
            mixed.setMode(.uniform)
            none = try timed("evaluation") { try task.evaluate(network, .dqssNone) }
        }

        // 5. The searches.
        var searchResults: [SearchPipelineResult<Task.Evaluation>.Search] = []
        for settings in searches {
            let mixed = try mixture(network, table)
            let search = PTQSearch(model: network, mixed: mixed, settings: settings)
            let t = Date()
            let records = try timed("search") { try runSearch(search) }
            let seconds = Date().timeIntervalSince(t)
            let assignment = mixed.assignment()
            let theta = zip(mixed.activationHooks, mixed.weightHooks).map { LayerTheta(activation: $0.theta, weight: $1.theta) }
            let derived = mixed.derivedQuantization()
            // The phase's score: the soft mixture as the search left it (final τ), the network the loss saw.
            let softScore = task.hasHeldOutData ? task.score(network) : nil
            mixed.remove()
            let e = try installed(derived) { try timed("evaluation") { try task.evaluate(network, .derived(settings.schedule)) } }
            searchResults.append(.init(settings: settings, records: records, timing: search.timing, seconds: seconds,
                                       assignment: assignment, theta: theta, derived: e))
            phase("search (\(settings.schedule.rawValue))", seconds, score: softScore, passes: softScore == nil ? 0 : 1,
                  backward: records.count)
        }
        let main = searchResults[searchResults.count - 1]
        let derivedChoice = StrategyChoice(main.assignment)
        evaluated.append((derivedChoice, main.derived))

        // 6. Selection and refinement.
        var final = derivedChoice, start = "derived", keptStart = "derived", refinement: GreedyRefinement.Result?
        var refinements: [SearchPipelineResult<Task.Evaluation>.Refinement] = []
        var uniformStart: UniformStart?
        var sensitivityStart: SensitivityStart?
        let calibrationBatch = batches.first?.shape.first ?? 64
        if task.hasHeldOutData {
            let derivedStart = Date()
            let derivedScore = installed(table.quantization(derivedChoice)) { timed("selection") { task.score(network) } }
            phase("derive", Date().timeIntervalSince(derivedStart), score: derivedScore, passes: 1, main.derived)
            scores["derived"] = derivedScore
            // The best uniform candidate (ties: branch order), then the best start (ties: derived).
            uniformStart = Self.bestUniform(table.names, scores: scores)
            let bestUniform = uniformStart.map { (name: $0.name, choice: StrategyChoice.uniform($0.index, layers: points.count), score: $0.score) }
            let derivedStartPoint = (name: "derived", choice: derivedChoice, score: derivedScore)
            let best = bestUniform.map { $0.score < derivedScore ? $0 : derivedStartPoint } ?? derivedStartPoint
            var starts = [best]
            if refineStarts != .best && refinePasses > 0, let other = best.name == "derived" ? bestUniform : derivedStartPoint,
               other.choice != best.choice {
                starts.append(other)
            }
            if refineStarts == .all && refinePasses > 0 {
                let s = sensitivitySelection(network, table: table, points: points, calibrationBatch: calibrationBatch)
                sensitivityStart = s   // its score is the refinement's start score (not a selection score)
                phase("sensitivity start", s.seconds + s.scoreSeconds, score: s.score, passes: 1, backward: s.batches)
                if !starts.contains(where: { $0.choice == s.choice }) { starts.append((name: "sensitivity", choice: s.choice, score: s.score)) }
            }
            start = best.name
            log.progress("selection on \(task.scoreDescription): "
                         + scores.sorted { $0.value < $1.value }.map { String(format: "%@ %.5f", $0.key, $0.value) }
                            .joined(separator: ", ") + " -> start from " + starts.map(\.name).joined(separator: " and ") + "\n")
            phase("select", uniformScoring, score: best.score, passes: table.names.count,
                  evaluated.first { $0.choice == best.choice }?.evaluation)
            for s in starts {
                let t = Date()
                let label = starts.count > 1 ? "refinement from \(s.name)" : nil
                let result = timed("selection") {
                    refine(network, s.choice, score: s.score, table: table, points: points, label: label, significance: refineSignificance)
                }
                refinements.append(.init(start: s.name, startScore: s.score, result: result, seconds: Date().timeIntervalSince(t)))
            }
            // The lower final score, on the selection images when there are (the validation scores of the
            // refinements are biased by the trials each kept on them); ties keep the earlier (the better start's).
            if task.hasSelectionData {
                let t = Date()
                for i in refinements.indices {
                    refinements[i].selectionScore = installed(table.quantization(refinements[i].result.choice)) {
                        timed("selection") { task.selectionScore(network) }
                    }
                }
                phase("choose on selection images", Date().timeIntervalSince(t), score: nil, passes: 0)
            }
            func rank(_ r: SearchPipelineResult<Task.Evaluation>.Refinement) -> Double { r.selectionScore ?? r.result.score }
            let kept = RefinementStarts.kept(validationScores: refinements.map(\.result.score),
                                             selectionScores: refinements.map(\.selectionScore))
            refinements[kept].kept = true
            if refinements.count > 1 {
                let on = task.hasSelectionData ? " on the selection images" : ""
                log.progress(refinements.map { String(format: "from %@: %.5f", $0.start, rank($0)) }.joined(separator: ", ")
                             + "\(on) -> keep the refinement from \(refinements[kept].start)\n")
            }
            keptStart = refinements[kept].start
            refinement = refinements[kept].result
            final = refinements[kept].result.choice
        }

        // 7. The final network's evaluation (and, in a comparison run with peers, the other start's).
        let refined = refinement != nil && refinePasses > 0
        let earlier = evaluated.first { $0.choice == final }?.evaluation
        let finalEvaluation: Task.Evaluation
        if let earlier, !(refined && task.evaluatesRefinedNetwork) {
            finalEvaluation = earlier
        } else {
            finalEvaluation = try installed(table.quantization(final)) { try timed("evaluation") { try task.evaluate(network, .refined) } }
        }
        evaluated.append((final, finalEvaluation))
        for i in refinements.indices {
            let r = refinements[i]
            if r.kept {
                refinements[i].evaluation = finalEvaluation
            } else if !peers.isEmpty {
                // Reported so a run with the peers shows what the start not kept would have given.
                let e = try evaluated.first { $0.choice == r.result.choice }?.evaluation
                    ?? installed(table.quantization(r.result.choice)) { try timed("evaluation") { try task.evaluate(network, .refinedFrom(r.start)) } }
                evaluated.append((r.result.choice, e))
                refinements[i].evaluation = e
            }
            let name = refinements.count > 1 ? "refine from \(r.start)" : "refine"
            phase(name, r.seconds, score: r.result.score, passes: r.result.evaluations, refinements[i].evaluation)
        }

        // 8. The peers.
        var peerRows: [SearchPipelineResult<Task.Evaluation>.Peer] = []
        if task.hasHeldOutData && !peers.isEmpty {
            let t = Date(), evaluationBefore = timings["evaluation"] ?? 0
            peerRows = try runPeers(network, table: table, points: points, uniformStart: uniformStart, uniformScoring: uniformScoring,
                                    sensitivityStart: sensitivityStart, dqss: refinements, calibrationBatch: calibrationBatch,
                                    evaluated: &evaluated) { q, stage in
                try installed(q) { try timed("evaluation") { try task.evaluate(network, stage) } }
            }
            // The peers' own work; their test-split evaluations are counted under "evaluation".
            timings["peers"] = Date().timeIntervalSince(t) - ((timings["evaluation"] ?? 0) - evaluationBefore)
            if task.hasSelectionData {
                // For the report: the peers' networks on the images that chose DQSS's (not part of their cost).
                for i in peerRows.indices {
                    peerRows[i].selectionScore = installed(table.quantization(peerRows[i].choice)) {
                        timed("selection") { task.selectionScore(network) }
                    }
                }
            }
            for p in peerRows {
                phase(p.peer.label, p.seconds, score: p.validationScore, passes: p.validationPasses, backward: p.backwardPasses,
                      p.evaluation)
            }
        }
        var result = SearchPipelineResult(table: table, layerKinds: points.map(\.kind), fp32: fp32, uniform: uniform,
                                          dqssNone: none, searches: searchResults, validationScores: scores, selectedStart: start, refinedFrom: keptStart,
                                          refinement: refinement, final: final, finalEvaluation: finalEvaluation, timings: timings)
        result.refinements = refinements
        result.phases = phases
        result.peers = peerRows
        return result
    }

    /// Step 2: statistics over the calibration batches (combined over the ranks), then every candidate's thresholds.
    func calibrate(_ network: any UnaryLayer, _ batches: [Tensor], firstImage: Int) throws
        -> (points: [QuantizationPoint], table: CandidateTable) {
        let calibration = PTQCalibration(model: network, settings: ptq)
        calibration.communicator = communicator
        calibration.firstImage = firstImage
        calibration.gather(batches: batches, methods: methods) { log.progress($0 + "\n") }
        var layers: [[LayerQuantization]] = []
        for m in methods {
            let t = Date()
            layers.append(try calibration.assignments(for: m, progress: { i, name in
                if m == .easyQuant {
                    log.progress(String(format: "\rEQ thresholds: layer %d/%d %@ (%.0f s)\u{1B}[K", i + 1, calibration.points.count,
                                        name, Date().timeIntervalSince(t)))
                }
            }, detail: { i, message in
                log.progress(String(format: "%@ layer %d/%d %@: %@\n", m.paperName, i + 1, calibration.points.count,
                                    calibration.points[i].name, message))
            }))
            if m == .easyQuant { log.progress("\n") }
            log.progress(String(format: "%@ thresholds: %.1f s\n", m.paperName, Date().timeIntervalSince(t)))
        }
        calibration.releaseInputs()
        let points = calibration.points
        log.progress("\(points.count) quantized layers, \(points.indices.filter { calibration.activationUnsigned($0) }.count) "
                     + "unsigned activation inputs\n")
        return (points, CandidateTable(names: methods.map(\.paperName), layers: layers))
    }

    /// The DQSS operators of every candidate on every layer (weights frozen).
    func mixture(_ network: any UnaryLayer, _ table: CandidateTable) throws -> MixedQuantizedModel {
        try MixedQuantizedModel(model: network, candidates: zip(table.names, table.layers).map { ($0, $1) })
    }

    /// Step 5 for one search: the task's loss over the schedule, with a progress line.
    func runSearch(_ search: PTQSearch) throws -> [SearchStepRecord] {
        let settings = search.settings, loss = task.loss
        let perEpoch = settings.stepsPerEpoch(images: loss.totalImages), steps = perEpoch * settings.epochs
        log.progress("search (\(settings.schedule.rawValue)): \(settings.epochs) epochs x \(perEpoch) steps, "
                     + "batch \(settings.batchSize), \(settings.optimizer.rawValue) lr \(settings.lr), loss \(loss.name.uppercased())\n")
        let t = Date()
        let records = try loss.run(search) { [log] r in
            let elapsed = Date().timeIntervalSince(t), done = r.step + 1
            let rate = Double(done * settings.batchSize) / max(elapsed, 1e-9)
            log.progress(String(format: "\r  epoch %d/%d step %d/%d loss %.4f lr %.2e tau %.3f  %.0f images/s  ETA %.0f s\u{1B}[K",
                                r.epoch + 1, settings.epochs, done, steps, r.loss, Double(r.lr), r.temperature, rate,
                                elapsed / Double(done) * Double(steps - done)))
        }
        log.progress("\n")
        return records
    }

    /// Step 6's greedy refinement from the selected start, scored by the task.
    func refine(_ network: any UnaryLayer, _ start: StrategyChoice, score: Double, table: CandidateTable,
                points: [QuantizationPoint], label: String? = nil, significance: Double? = nil) -> GreedyRefinement.Result {
        let t = Date()
        // Trials differ from the current network in one layer: a task's scorer may reuse the rest.
        let scorer = task.refinementScorer(network, points: points, significance: significance)
        precondition(significance == nil || scorer != nil, "the significance gate needs a per-image scorer (SearchTask.refinementScorer)")
        if let scorer, significance != nil {
            QuantizedModel.install(points, assignments: table.quantization(start))
            scorer.begin(network)
            QuantizedModel.removeHooks(points)
        }
        let result = GreedyRefinement.refine(start: start, startScore: score, table: table, passes: refinePasses,
                                             trial: { q, layer, current in
            QuantizedModel.install(points, assignments: q)
            defer { QuantizedModel.removeHooks(points) }
            if let scorer { return scorer.verdict(network, changedLayer: layer, current: current) }
            let s = task.score(network)
            return GreedyRefinement.Verdict(score: s, improves: s < current)
        }, kept: { scorer?.keepLastTrial() }, progress: { l, side, c, s, b in
            log.progress(String(format: "\r%@: layer %d/%d %@ %@: %.5f (best %.5f)  %.0f s\u{1B}[K", label ?? "refine", l + 1, points.count,
                                side.rawValue, table.names[c], s, b, Date().timeIntervalSince(t)))
        })
        if result.evaluations > 0 { log.progress("\n") }
        log.progress("\(label ?? "refinement"): \(result.changes.count) change(s) kept in \(result.passes) pass(es), \(result.evaluations) "
                     + "networks scored (of at most \(refinePasses * points.count * 2 * (table.names.count - 1)))\n")
        return result
    }
}
