// The DQSS PTQ search of a classifier (`dqss search --mode ptq`), ALGORITHMS.md §6 with §6.1 and §6.2:
//
//   1. FP32 top-1 on the test split.
//   2. Calibration and validation images: one seeded permutation of the training split; its first
//      `calib` images calibrate (the same draw as `dqss ptq --seed`, so the uniform rows equal the PTQ
//      table's), the next `valImages` are the held-out validation set of §6.2 (never the test split).
//   3. Every candidate's (T_w, T_a) per layer from FP32 passes over the calibration images; each uniform
//      candidate evaluated on the test split and scored on the validation set.
//   4. DQSS-None: the mixture with θ = 1/N everywhere (§6.1), evaluated as the soft mixture.
//   5. The search(es): α, β learned on the calibration images (CE with labels, or KD to the FP32 softmax),
//      weights and thresholds frozen; derive by argmax (Eq. 6), install plain §1 quantizers, evaluate.
//      With --also-paper the paper schedule runs first from the same thresholds, as its own row.
//   6. Selection and refinement (§6.2): the derived assignment of the main search and every uniform
//      candidate scored by the mean KL divergence of the quantized network's softmax from the FP32 one
//      on the validation images; the best is refined greedily (GreedyRefinement); the result is "DQSS".
//
// Under mpirun every rank reads its shard of the calibration, validation and test images: statistics
// are combined by PTQCalibration, α/β gradients averaged over the global batch by PTQSearch, and counts
// and divergences summed, so every number is that of one process (up to float summation order).
// Only rank 0 prints and writes.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSDistributed
import DQSSCheckpoint

/// Everything a PTQ search run needs (the flags of `dqss search --mode ptq`).
public struct PTQSearchOptions {
    public var model: String
    /// Classes of the model's classifier head (nil: the architecture's own; `ModelZoo.spec(named:numClasses:)`).
    public var numClasses: Int? = nil
    public var weights: String
    public var data: String
    public var methods: [PTQMethod]
    public var ptq: PTQSettings
    public var calib: Int
    public var valImages: Int
    public var refinePasses: Int
    public var seed: UInt64
    public var calibSplit: String
    public var split: String
    public var limit: Int?
    public var batch: Int
    public var calibBatch: Int
    /// The searches to run from the same thresholds; the last one is the main search (its derived
    /// assignment enters the selection).
    public var searches: [PTQSearchSettings]
    public var distillation: Bool
    public var out: String?
    public var json: Bool
    public var markdown: Bool
    public var quiet: Bool
    public var commandLine: String

    public init(model: String, weights: String, data: String, methods: [PTQMethod], ptq: PTQSettings, calib: Int, valImages: Int, refinePasses: Int, seed: UInt64, calibSplit: String, split: String, limit: Int?, batch: Int, calibBatch: Int, searches: [PTQSearchSettings], distillation: Bool, out: String?, json: Bool, markdown: Bool, quiet: Bool, commandLine: String) {
        self.model = model
        self.weights = weights
        self.data = data
        self.methods = methods
        self.ptq = ptq
        self.calib = calib
        self.valImages = valImages
        self.refinePasses = refinePasses
        self.seed = seed
        self.calibSplit = calibSplit
        self.split = split
        self.limit = limit
        self.batch = batch
        self.calibBatch = calibBatch
        self.searches = searches
        self.distillation = distillation
        self.out = out
        self.json = json
        self.markdown = markdown
        self.quiet = quiet
        self.commandLine = commandLine
    }
}

/// The DQSS PTQ search of a zoo classifier (file header): every rank calls it, rank 0 reports.
public enum PTQSearchRun {
    /// Load `o.model` with `o.weights`, open the calibration and test splits of `o.data`, and run steps 1–6.
    /// Every rank returns the same report (only rank 0 should print or write it).
    public static func search(_ o: PTQSearchOptions, communicator comm: any Communicator) throws -> PTQSearchReport {
        let log = RankLog(communicator: comm, quiet: o.quiet)
        let spec = try ModelZoo.spec(named: o.model, numClasses: o.numClasses)
        let weightsURL = URL(fileURLWithPath: o.weights)
        let network = try spec.load(weights: weightsURL)
        let (norm, normSource) = try spec.normalization(forWeights: weightsURL)
        let dataURL = URL(fileURLWithPath: o.data)
        let trainSource = try ClassificationSource.open(dataset: spec.dataset, directory: dataURL, split: o.calibSplit,
                                                        normalization: norm)
        let testSource = try ClassificationSource.open(dataset: spec.dataset, directory: dataURL, split: o.split,
                                                       normalization: norm)
        for (s, name) in [(trainSource, o.calibSplit), (testSource, o.split)] where s.imageShape != spec.inputShape {
            throw SearchRunError("\(o.model) expects images \(spec.inputShape), split \"\(name)\" of \(o.data) has \(s.imageShape)")
        }
        log.progress("\(o.model): normalisation \(normSource)\n")
        return try search(network, train: trainSource, test: testSource, o, communicator: comm)
    }

    /// Steps 1–6 on a loaded network (the zoo model of `run`, or the demo's freshly trained one).
    public static func search(_ network: any UnaryLayer, train trainSource: ClassificationSource, test testSource: ClassificationSource,
                       _ o: PTQSearchOptions, communicator comm: any Communicator) throws -> PTQSearchReport {
        let log = RankLog(communicator: comm, quiet: o.quiet)
        let started = Date()
        guard o.calib + o.valImages <= trainSource.count else {
            throw SearchRunError("--calib \(o.calib) + --val-images \(o.valImages) exceed the \(trainSource.count) images of split "
                                 + "\"\(o.calibSplit)\" of \(o.data)")
        }
        let setting = "W\(o.ptq.weightBits)A\(o.ptq.activationBits)"
        log.progress("\(o.model) \(setting): DQSS PTQ search over \(o.methods.map(\.paperName).joined(separator: ", ")); "
                     + "\(comm.size) rank(s), \(Threads.count) thread(s)\n")

        // Calibration and validation draw (one permutation, disjoint), this rank's shards of both.
        var rng = RNG(seed: o.seed)
        let order = rng.permutation(trainSource.count)
        let calibIndices = Array(order.prefix(o.calib))
        let valIndices = Array(order[o.calib..<(o.calib + o.valImages)])
        let calibShard = Sharding.range(count: o.calib, rank: comm.rank, size: comm.size)
        let valShard = Sharding.range(count: o.valImages, rank: comm.rank, size: comm.size)
        let (calibImages, calibLabels) = try trainSource.gather(Array(calibIndices[calibShard]))
        let valBatches = ClassificationSource.batches(of: try trainSource.gather(Array(valIndices[valShard])).images, size: o.batch)
        try checkFinite(calibImages, what: "calibration image", split: o.calibSplit)

        let evaluator = ShardedEvaluation(source: testSource, total: min(o.limit ?? testSource.count, testSource.count),
                                          batch: o.batch, communicator: comm, log: log, model: o.model, split: o.split)
        var timings: [String: Double] = [:]
        func timed<T>(_ key: String, _ body: () throws -> T) rethrows -> T {
            let t = Date()
            defer { timings[key, default: 0] += Date().timeIntervalSince(t) }
            return try body()
        }

        // 1. FP32: test top-1, validation logits (the selection's reference), teacher logits for KD.
        let fp32 = try timed("evaluation") { try evaluator.top1(network, label: "FP32") }
        let valReference = valBatches.map { network.forward($0).copy() }
        let teacher: Tensor? = o.distillation && calibImages.shape[0] > 0 ? forwardAll(network, calibImages, batch: o.batch) : nil
        let divergence = ValidationDivergence(batches: valBatches, reference: valReference, total: o.valImages,
                                              communicator: comm)

        // 2. Candidates' thresholds (frozen from here on, §6 step 2).
        let calibration = PTQCalibration(model: network, settings: o.ptq)
        calibration.communicator = comm
        calibration.firstImage = calibShard.lowerBound
        let calibStart = Date()
        calibration.gather(batches: ClassificationSource.batches(of: calibImages, size: o.calibBatch), methods: o.methods) { log.progress($0 + "\n") }
        var layers: [[LayerQuantization]] = []
        for m in o.methods {
            let t = Date()
            layers.append(try calibration.assignments(for: m) { i, name in
                if m == .easyQuant {
                    log.progress(String(format: "\rEQ thresholds: layer %d/%d %@ (%.0f s)\u{1B}[K", i + 1, calibration.points.count,
                                        name, Date().timeIntervalSince(t)))
                }
            })
            if m == .easyQuant { log.progress("\n") }
            log.progress(String(format: "%@ thresholds: %.1f s\n", m.paperName, Date().timeIntervalSince(t)))
        }
        calibration.releaseInputs()
        QuantizedModel.removeHooks(calibration.points)
        timings["calibration"] = Date().timeIntervalSince(calibStart)
        let points = calibration.points
        let table = CandidateTable(names: o.methods.map(\.paperName), layers: layers)
        log.progress("\(points.count) quantized layers, \(points.indices.filter { calibration.activationUnsigned($0) }.count) "
                     + "unsigned activation inputs\n")

        // 3. Uniform candidates: test top-1 and validation score.
        func installed<T>(_ q: [LayerQuantization], _ body: () throws -> T) rethrows -> T {
            QuantizedModel.install(points, assignments: q)
            defer { QuantizedModel.removeHooks(points) }
            return try body()
        }
        var uniformTop1: [String: Double] = [:], validationScores: [String: Double] = [:]
        var scoredChoices: [(name: String, choice: StrategyChoice, top1: Double)] = []
        for (c, name) in table.names.enumerated() {
            let choice = StrategyChoice.uniform(c, layers: points.count)
            try installed(table.quantization(choice)) {
                let r = try timed("evaluation") { try evaluator.top1(network, label: "\(name) \(setting)") }
                uniformTop1[name] = r.top1
                scoredChoices.append((name, choice, r.top1))
                if o.valImages > 0 { validationScores[name] = timed("selection") { divergence.score(network) } }
            }
        }

        // 4. DQSS-None (§6.1): θ = 1/N soft mixture, no search.
        let none: Double = try {
            let mixed = try MixedQuantizedModel(model: network, candidates: zip(table.names, layers).map { ($0, $1) })
            defer { mixed.remove() }
            mixed.setMode(.uniform)
            return try timed("evaluation") { try evaluator.top1(network, label: "DQSS-None \(setting)") }.top1
        }()

        // 5. The searches.
        let reducer: any BatchGradientReducer = comm.size > 1 ? BucketedGradientReducer(communicator: comm) : LocalGradientReducer()
        var searchReports: [PTQSearchReport.Search] = []
        var derivedAssignment: StrategyAssignment?
        var derivedTheta: [(activation: [Double], weight: [Double])] = []
        for (k, settings) in o.searches.enumerated() {
            let mixed = try MixedQuantizedModel(model: network, candidates: zip(table.names, layers).map { ($0, $1) })
            let search = PTQSearch(model: network, mixed: mixed, settings: settings)
            let steps = settings.stepsPerEpoch(images: o.calib) * settings.epochs
            let t = Date()
            log.progress("search (\(settings.schedule.rawValue)): \(settings.epochs) epochs x \(settings.stepsPerEpoch(images: o.calib)) steps, "
                         + "batch \(settings.batchSize), \(settings.optimizer.rawValue) lr \(settings.lr), "
                         + "loss \(o.distillation ? "KD" : "CE")\n")
            let records = try timed("search") {
                try search.run(images: calibImages, labels: calibLabels, teacherLogits: teacher, firstImage: calibShard.lowerBound,
                               totalImages: o.calib, reducer: reducer) { r in
                    let elapsed = Date().timeIntervalSince(t), done = r.step + 1
                    let rate = Double(done * settings.batchSize) / max(elapsed, 1e-9)
                    log.progress(String(format: "\r  epoch %d/%d step %d/%d loss %.4f lr %.2e tau %.3f  %.0f images/s  ETA %.0f s\u{1B}[K",
                                        r.epoch + 1, settings.epochs, done, steps, r.loss, Double(r.lr), r.temperature, rate,
                                        elapsed / Double(done) * Double(steps - done)))
                }
            }
            log.progress("\n")
            let assignment = mixed.assignment()
            let theta = zip(mixed.activationHooks, mixed.weightHooks).map { (activation: $0.theta, weight: $1.theta) }
            let derivedQ = mixed.derivedQuantization()
            mixed.remove()
            let r = try installed(derivedQ) {
                try timed("evaluation") { try evaluator.top1(network, label: "DQSS \(settings.schedule.rawValue) derived \(setting)") }
            }
            searchReports.append(.init(schedule: settings.schedule.rawValue, optimizer: settings.optimizer.rawValue, lr: settings.lr,
                                       epochs: settings.epochs, batch: settings.batchSize, steps: records.count,
                                       temperatureEnd: settings.schedule == .annealed ? settings.temperatureEnd : 1,
                                       loss: o.distillation ? "kd" : "ce", firstLoss: records.first?.loss ?? .nan,
                                       lastLoss: records.last?.loss ?? .nan, seconds: Date().timeIntervalSince(t),
                                       derivedTop1: r.top1,
                                       activationCounts: counts(assignment.activationCounts, table.names),
                                       weightCounts: counts(assignment.weightCounts, table.names)))
            if k == o.searches.count - 1 {
                derivedAssignment = assignment
                derivedTheta = theta
                scoredChoices.append(("derived", StrategyChoice(assignment), r.top1))
            }
        }
        let derived = derivedAssignment!   // o.searches is never empty
        let derivedChoice = StrategyChoice(derived)

        // 6. Selection and greedy refinement (§6.2).
        var final = derivedChoice, start = "derived", refinement: GreedyRefinement.Result?
        if o.valImages > 0 {
            let derivedScore = installed(table.quantization(derivedChoice)) { timed("selection") { divergence.score(network) } }
            validationScores["derived"] = derivedScore
            var best = (name: "derived", choice: derivedChoice, score: derivedScore)
            for (c, name) in table.names.enumerated() where validationScores[name]! < best.score {
                best = (name, StrategyChoice.uniform(c, layers: points.count), validationScores[name]!)
            }
            start = best.name
            log.progress(String(format: "selection on %d validation images (KL to FP32): ", o.valImages)
                         + validationScores.sorted { $0.value < $1.value }.map { String(format: "%@ %.5f", $0.key, $0.value) }
                            .joined(separator: ", ") + " -> start from \(start)\n")
            let t = Date()
            let candidateCount = table.names.count
            let result = GreedyRefinement.refine(start: best.choice, startScore: best.score, table: table, passes: o.refinePasses,
                                                 score: { q in installed(q) { divergence.score(network) } },
                                                 progress: { l, side, c, s, b in
                log.progress(String(format: "\rrefine: layer %d/%d %@ %@: %.5f (best %.5f)  %.0f s\u{1B}[K", l + 1, points.count,
                                    side.rawValue, table.names[c], s, b, Date().timeIntervalSince(t)))
            })
            timings["selection", default: 0] += Date().timeIntervalSince(t)
            if result.evaluations > 0 { log.progress("\n") }
            log.progress("refinement: \(result.changes.count) change(s) kept in \(result.passes) pass(es), \(result.evaluations) "
                         + "networks scored (of at most \(o.refinePasses * points.count * 2 * (candidateCount - 1)))\n")
            refinement = result
            final = result.choice
        }
        let finalTop1: Double = try scoredChoices.first(where: { $0.choice == final })?.top1 ?? installed(table.quantization(final)) {
            try timed("evaluation") { try evaluator.top1(network, label: "DQSS (refined) \(setting)") }.top1
        }

        // Report.
        let finalQ = table.quantization(final)
        let layerReports: [PTQSearchReport.Layer] = points.indices.map { l in
            PTQSearchReport.Layer(
                name: points[l].name, kind: points[l].kind,
                activation: table.names[final.activation[l]], weight: table.names[final.weight[l]],
                activationCandidate: table.names[final.activation[l]], weightCandidate: table.names[final.weight[l]],
                activationThreshold: finalQ[l].thresholds.activation, weightThreshold: finalQ[l].thresholds.weight,
                activationUnsigned: finalQ[l].activationUnsigned, activationBits: finalQ[l].activationBits,
                weightBits: finalQ[l].weightBits,
                thetaActivation: derivedTheta[l].activation, thetaWeight: derivedTheta[l].weight,
                alpha: derived.layers[l].alpha, beta: derived.layers[l].beta,
                derivedActivation: derived.layers[l].activationCandidate, derivedWeight: derived.layers[l].weightCandidate)
        }
        let report = PTQSearchReport(
            model: o.model, weights: o.weights, data: o.data, split: o.split, setting: setting,
            weightBits: o.ptq.weightBits, activationBits: o.ptq.activationBits, signedActivations: o.ptq.signedActivations,
            candidates: table.names, ranks: comm.size, threads: Threads.count,
            fp32Top1: fp32.top1, testImages: fp32.total, uniform: uniformTop1, dqssNoneTop1: none,
            paperDerivedTop1: searchReports.first(where: { $0.schedule == "paper" })?.derivedTop1,
            derivedTop1: searchReports.last!.derivedTop1, dqssTop1: finalTop1,
            selectedStart: start, validationImages: o.valImages, validationScores: validationScores,
            finalValidationScore: refinement?.score, refinePasses: o.refinePasses,
            refinementChanges: refinement?.changes ?? [], refinementEvaluations: refinement?.evaluations ?? 0,
            searches: searchReports, assignment: layerReports,
            activationCounts: counts(table.names.indices.map { c in final.activation.filter { $0 == c }.count }, table.names),
            weightCounts: counts(table.names.indices.map { c in final.weight.filter { $0 == c }.count }, table.names),
            calibration: .init(images: o.calib, split: o.calibSplit, seed: o.seed, eqImages: o.ptq.eqMaxImages),
            timings: timings, seconds: Date().timeIntervalSince(started), commandLine: o.commandLine)
        return report
    }

    static func counts(_ c: [Int], _ names: [String]) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: zip(names, c))
    }

    /// The network's outputs for `images`, in batches, as one tensor [n, K].
    static func forwardAll(_ network: any UnaryLayer, _ images: Tensor, batch: Int) -> Tensor {
        network.setTraining(false)
        let parts = ClassificationSource.batches(of: images, size: batch)
        let outputs = parts.map { network.forward($0).copy() }
        let n = images.shape[0], k = outputs.first.map { $0.count / $0.shape[0] } ?? 0
        let all = Tensor(shape: [n, k])
        var row = 0
        for o in outputs {
            (all.data + row * k).update(from: o.data, count: o.count)
            row += o.shape[0]
        }
        return all
    }

    static func checkFinite(_ t: Tensor, what: String, split: String) throws {
        let per = t.shape.first.map { $0 == 0 ? 1 : t.count / $0 } ?? 1
        for i in 0..<t.count where !t.data[i].isFinite {
            throw SearchRunError("\(what) \(i / per) of split \"\(split)\" holds a non-finite value")
        }
    }
}

/// `--out DIR`: create it and check that files can be written there before any work, so that an
/// unwritable directory is reported in a second, not after the whole search.
public func prepareOutputDirectory(_ out: String) throws {
    do { try AtomicFile.prepareDirectory(URL(fileURLWithPath: out)) } catch {
        throw SearchRunError("--out: cannot write into \(out): \(error)")
    }
}

/// An error of a search run, printed as is.
public struct SearchRunError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Top-1 on the test split, each rank evaluating its contiguous range and the counts summed.
struct ShardedEvaluation {
    let source: ClassificationSource
    let total: Int
    let batch: Int
    let communicator: any Communicator
    let log: RankLog
    let model: String
    let split: String

    struct Result { var correct: Int; var total: Int; var seconds: Double; var top1: Double { 100 * Double(correct) / Double(max(total, 1)) } }

    func top1(_ network: any UnaryLayer, label: String) throws -> Result {
        let range = Sharding.range(count: total, rank: communicator.rank, size: communicator.size)
        let r = try evaluateTop1(network, total: range.count, batchSize: batch, batch: { try source.batch(($0.lowerBound + range.lowerBound)..<($0.upperBound + range.lowerBound)) },
                                 progress: { done, seconds in
            log.progress(String(format: "\r%@ %@ on %@: %d/%d images, %.0f images/s\u{1B}[K", model, label, split,
                                done * communicator.size, total, Double(done * communicator.size) / max(seconds, 1e-9)))
        })
        let correct = communicator.size > 1 ? communicator.allreduce(r.correct, .sum) : r.correct
        let result = Result(correct: correct, total: total, seconds: r.seconds)
        log.progress(String(format: "\r%@ %@ on %@: top-1 %.2f %% (%d / %d), %.1f s\u{1B}[K\n", model, label, split, result.top1,
                            correct, total, r.seconds))
        return result
    }
}

/// The §6.2 selection score: mean over the validation images of KL(softmax(FP32) ‖ softmax(quantized)).
struct ValidationDivergence {
    let batches: [Tensor]
    let reference: [Tensor]
    /// Validation images over all ranks.
    let total: Int
    let communicator: any Communicator

    func score(_ network: any UnaryLayer) -> Double {
        network.setTraining(false)
        let kd = DistillationKL()
        var sum = 0.0
        for (b, ref) in zip(batches, reference) {
            sum += Double(kd.forward(logits: network.forward(b), teacher: ref)) * Double(b.shape[0])
        }
        if communicator.size > 1 { sum = communicator.allreduce(sum, .sum) }
        return sum / Double(max(total, 1))
    }
}
