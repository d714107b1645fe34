// The DQSS PTQ search of a classifier (`dqss search --mode ptq`, `dqss demo`): the search pipeline
// (SearchPipeline) with the classification task (ClassificationSearchTask), ALGORITHMS.md §6 with §6.1, §6.2:
//
//   1. FP32 top-1 on the test split.
//   2. Calibration and validation images: one seeded permutation of the training split; its first
//      `calib` images calibrate (the same draw as `dqss ptq --seed`, so the uniform rows equal the PTQ
//      table's), the next `valImages` are the held-out validation set of §6.2 (never the test split), the
//      next `selectionImages` (optional) choose between the refined networks.
//   3. Every candidate's (T_w, T_a) per layer from FP32 passes over the calibration images; each uniform
//      candidate evaluated on the test split and scored on the validation set.
//   4. DQSS-None: the mixture with θ = 1/N everywhere (§6.1), evaluated as the soft mixture.
//   5. The search(es): α, β learned on the calibration images (CE with labels, or KD to the FP32 softmax),
//      weights and thresholds frozen; derive by argmax (Eq. 6), install plain §1 quantizers, evaluate.
//      With --also-paper the paper schedule runs first from the same thresholds, as its own row.
//   6. Selection and refinement (§6.2): the derived assignment of the main search and every uniform
//      candidate scored by the mean KL divergence of the quantized network's softmax from the FP32 one
//      on the validation images; the best is refined greedily (GreedyRefinement); the result is "DQSS".
//   7. The peers (`peers`, SearchPeer; issue 18): greedy refinement from the best uniform candidate,
//      sensitivity-score selection and greedy refinement from it, from the same thresholds, each a row
//      with its top-1, wall time and passes; every step's time and validation score is a phase.
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

/// Everything a PTQ search run needs: the flags of `dqss search --mode ptq`, with the same defaults.
///
/// Only the model, its weights and the data are required:
///
/// ```swift
/// var o = PTQSearchOptions(model: "resnet20", weights: "akamaster_resnet20.safetensors", data: "cifar10")
/// o.ptq = PTQSettings(weightBits: 4, activationBits: 8)
/// ```
public struct PTQSearchOptions {
    /// A zoo model name (`ModelZoo.names`), and its weights (.safetensors with PyTorch parameter names).
    public var model: String
    /// Classes of the model's classifier head (nil: the architecture's own; `ModelZoo.spec(named:numClasses:)`).
    public var numClasses: Int? = nil
    public var weights: String
    /// Dataset directory: CIFAR-10 (the folder holding manifest.json) or `dqss prepare` shards.
    public var data: String
    /// The PTQ candidates, in branch (tie-break) order.
    public var methods: [PTQMethod]
    /// Bit widths, signedness and calibrator settings of every candidate.
    public var ptq: PTQSettings
    /// Calibration images and held-out validation images (§6.2; 0 disables selection and refinement),
    /// drawn disjointly from `calibSplit` with `seed`.
    public var calib: Int
    public var valImages: Int
    /// JPEG quality (1...100) the validation images go through (encode + decode) before every score: the
    /// selection and refinement then fit inputs that reach the network as JPEG. nil: lossless, as drawn.
    /// Calibration images are never changed (the uniform rows stay the PTQ table's).
    public var validationJPEGQuality: Int? = nil
    /// Further held-out images (after the validation images in the same draw) that choose between the
    /// refined networks by the same KL score, and score the peers' networks for the report: each refinement
    /// kept the trials that lowered its score on the validation images, so those scores are biased low and
    /// rank two refinements unfairly. 0: the refinements are compared on the validation images.
    /// They go through the JPEG round trip of `validationJPEGQuality` too.
    public var selectionImages = 0
    /// Greedy refinement passes after the selection (§6.2); 0: selection only. Also the greedy peers'.
    public var refinePasses: Int
    /// Where the refinement starts (RefinementStarts).
    public var refineStarts: RefinementStarts = .all
    /// The significance gate of DQSS's refinements (PairedImprovement): a change is kept only when it lowers
    /// the validation images' per-image KL by more than this many standard errors (paired). nil: any decrease.
    public var refineSignificance: Double? = nil
    /// The peer rows (SearchPeer) run after the search from the same thresholds; they need `valImages` > 0.
    public var peers: [SearchPeer] = SearchPeer.allCases
    /// The greedy refinements reuse the unchanged prefix of the network between trials (same scores,
    /// about half the work on the CIFAR ResNets; StagedValidationScore). False: a full pass per trial.
    public var refineReusesPrefix = true
    public var seed: UInt64
    public var calibSplit: String
    /// The split every reported top-1 is measured on (its first `limit` images).
    public var split: String
    public var limit: Int?
    /// Images per forward pass for evaluation and for calibration.
    public var batch: Int
    public var calibBatch: Int
    /// The searches to run from the same thresholds; the last one is the main search (its derived
    /// assignment enters the selection).
    public var searches: [PTQSearchSettings]
    /// Search loss: KL to the FP32 network's softmax (label-free) instead of cross-entropy with the labels.
    public var distillation: Bool
    /// The command's output: a directory for assignment.json, search.json, figure4.svg; stdout formats.
    public var out: String?
    public var json: Bool
    public var markdown: Bool
    /// No progress on stderr.
    public var quiet: Bool
    /// Recorded in the report.
    public var commandLine: String

    public init(model: String, weights: String, data: String, methods: [PTQMethod] = PTQMethod.paperCandidates,
                ptq: PTQSettings = PTQSettings(), calib: Int = 256, valImages: Int = 1000, refinePasses: Int = 1,
                seed: UInt64 = 0, calibSplit: String = "train", split: String = "test", limit: Int? = nil,
                batch: Int = 200, calibBatch: Int = 64, searches: [PTQSearchSettings] = [.annealed],
                distillation: Bool = false, out: String? = nil, json: Bool = false, markdown: Bool = false,
                quiet: Bool = false, commandLine: String = "") {
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
    /// Search a zoo classifier: load `o.model` with `o.weights`, open the calibration and test splits of
    /// `o.data`, and run the search pipeline (calibrate, search, derive, select, refine, evaluate).
    ///
    /// ```swift
    /// let report = try PTQSearchRun.search(PTQSearchOptions(model: "resnet20", weights: w, data: d))
    /// print(report.dqssTop1, report.assignmentDocument.layers.map(\.activation))
    /// ```
    ///
    /// - Parameters:
    ///   - o: the search's settings (`PTQSearchOptions`: every flag of `dqss search --mode ptq`).
    ///   - comm: under mpirun every rank calls this with its communicator and reads its shard of every
    ///     split; one process by default.
    /// - Returns: the report (every rank returns the same one; only rank 0 should print or write it):
    ///   top-1 of every row, the final assignment (`assignmentDocument` is assignment.json), the searches.
    /// - Throws: `ModelError`/`DQSSDataError` for a model, weights or data that cannot be read,
    ///   `SearchRunError` for settings the data cannot satisfy, `SearchError.nonFiniteLoss` when the
    ///   search diverges.
    public static func search(_ o: PTQSearchOptions, communicator comm: any Communicator = SingleProcess()) throws
        -> PTQSearchReport {
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

    /// Search a network already in memory (a zoo model, the demo's freshly trained one, your own):
    /// calibration and validation images from `trainSource`, every top-1 on `testSource`.
    /// `o.model`, `o.weights` and `o.data` only label the report. See `search(_:communicator:)`.
    public static func search(_ network: any UnaryLayer, train trainSource: ClassificationSource,
                              test testSource: ClassificationSource, _ o: PTQSearchOptions,
                              communicator comm: any Communicator = SingleProcess()) throws -> PTQSearchReport {
        let log = RankLog(communicator: comm, quiet: o.quiet)
        let started = Date()
        if let z = o.refineSignificance {
            guard z.isFinite && z >= 0 else { throw SearchRunError("--refine-significance must be a finite number ≥ 0 (got \(z))") }
            guard o.valImages > 0 else { throw SearchRunError("--refine-significance needs --val-images > 0 (it gates the refinement on them)") }
        }
        guard o.selectionImages >= 0 else { throw SearchRunError("--select-images must be ≥ 0 (got \(o.selectionImages))") }
        guard o.selectionImages == 0 || o.valImages > 0 else {
            throw SearchRunError("--select-images \(o.selectionImages) needs --val-images > 0 (they choose between refinements)")
        }
        guard o.calib + o.valImages + o.selectionImages <= trainSource.count else {
            let select = o.selectionImages > 0 ? " + --select-images \(o.selectionImages)" : ""
            throw SearchRunError("--calib \(o.calib) + --val-images \(o.valImages)\(select) exceed the \(trainSource.count) images of split "
                                 + "\"\(o.calibSplit)\" of \(o.data)")
        }
        let setting = o.ptq.label
        log.progress("\(o.model) \(setting): DQSS PTQ search over \(o.methods.map(\.paperName).joined(separator: ", ")); "
                     + "\(comm.size) rank(s), \(Threads.count) thread(s)\n")

        // Calibration and validation draw (one permutation, disjoint), this rank's shards of both.
        var rng = RNG(seed: o.seed)
        let order = rng.permutation(trainSource.count)
        let calibIndices = Array(order.prefix(o.calib))
        let valIndices = Array(order[o.calib..<(o.calib + o.valImages)])
        let selectIndices = Array(order[(o.calib + o.valImages)..<(o.calib + o.valImages + o.selectionImages)])
        let calibShard = Sharding.range(count: o.calib, rank: comm.rank, size: comm.size)
        let (calibImages, calibLabels) = try trainSource.gather(Array(calibIndices[calibShard]))
        // This rank's shard of held-out images (validation or selection), through JPEG when asked.
        func heldOut(_ indices: [Int], _ what: String) throws -> [Tensor] {
            let shard = Sharding.range(count: indices.count, rank: comm.rank, size: comm.size)
            var images = try trainSource.gather(Array(indices[shard])).images
            if let quality = o.validationJPEGQuality, !indices.isEmpty {
                guard let norm = trainSource.normalization else {
                    throw SearchRunError("a JPEG round trip of the \(what) images needs the normalisation of split \"\(o.calibSplit)\" (a ClassificationSource made with one)")
                }
                images = try norm.jpegRoundTrip(images, quality: quality)
                log.progress("\(indices.count) \(what) images through JPEG at quality \(quality)\n")
            }
            return ClassificationSource.batches(of: images, size: o.batch)
        }
        let valBatches = try heldOut(valIndices, "validation")
        let selectBatches = try heldOut(selectIndices, "selection")
        try checkFinite(calibImages, what: "calibration image", split: o.calibSplit)

        // The task: top-1 on the test split, KL to the FP32 softmax on the validation images, CE or KD to
        // the FP32 logits (the teacher) on the calibration images.
        let teacher: Tensor? = o.distillation && calibImages.shape[0] > 0 ? forwardAll(network, calibImages, batch: o.batch) : nil
        var evaluation = ShardedEvaluation(source: testSource, total: min(o.limit ?? testSource.count, testSource.count),
                                           batch: o.batch, communicator: comm, log: log, model: o.model, split: o.split)
        // One extra FP32 pass over the test images (~1/20 of a row's evaluations): every row then also
        // reports its agreement with FP32 and KL to FP32 on test (FidelityToFP32).
        evaluation.reference = try evaluation.fp32Reference(network)
        var task = ClassificationSearchTask(
            evaluation: evaluation,
            divergence: ValidationDivergence(network: network, batches: valBatches, total: o.valImages, communicator: comm),
            loss: ClassificationSearchLoss(images: calibImages, labels: calibLabels, teacher: teacher,
                                           firstImage: calibShard.lowerBound, totalImages: o.calib, communicator: comm),
            setting: setting)
        task.reusesPrefix = o.refineReusesPrefix
        if o.selectionImages > 0 {
            task.selection = ValidationDivergence(network: network, batches: selectBatches, total: o.selectionImages, communicator: comm)
        }
        var pipeline = SearchPipeline(task: task, methods: o.methods, ptq: o.ptq, searches: o.searches,
                                      refinePasses: o.refinePasses, refineStarts: o.refineStarts, peers: o.peers,
                                      communicator: comm, quiet: o.quiet)
        pipeline.refineSignificance = o.refineSignificance
        let r = try pipeline.run(network, calibration: ClassificationSource.batches(of: calibImages, size: o.calibBatch),
                                 firstImage: calibShard.lowerBound)
        var report = PTQSearchReport(r, options: o, ranks: comm.size, seconds: Date().timeIntervalSince(started))
        report.pairedWithFinal = pairedWithFinal(r, names: o.methods.map(\.paperName), evaluation: task.evaluation)
        report.fidelityToFP32 = fidelityToFP32(r, names: o.methods.map(\.paperName), evaluation: task.evaluation)
        return report
    }

    /// Every row of the report, labelled, in report order: FP32, the uniform candidates, DQSS-None, the
    /// derived networks, the refinements not kept, the peers (the final network not among them).
    static func otherRows(_ r: SearchPipelineResult<ShardedEvaluation.Result>, names: [String]) -> [(String, ShardedEvaluation.Result)] {
        var rows: [(String, ShardedEvaluation.Result)] = [("FP32", r.fp32)]
        rows += zip(names, r.uniform).map { ($0, $1) }
        rows.append(("DQSS-None", r.dqssNone))
        rows += r.searches.map { ("DQSS \($0.settings.schedule.rawValue) derived", $0.derived) }
        rows += r.refinements.filter { !$0.kept }.compactMap { f in f.evaluation.map { ("refined from \(f.start)", $0) } }
        rows += r.peers.map { ($0.peer.label, $0.evaluation) }
        return rows
    }

    /// The final network's fidelity to FP32 on the test images, then every other row's with the final
    /// network's KL against it, paired (FidelityToFP32); empty without the FP32 reference.
    static func fidelityToFP32(_ r: SearchPipelineResult<ShardedEvaluation.Result>, names: [String],
                               evaluation: ShardedEvaluation) -> [FidelityToFP32] {
        let rows = [("DQSS final", r.finalEvaluation)] + otherRows(r, names: names)
        return rows.compactMap { evaluation.fidelity(final: r.finalEvaluation, $1, row: $0) }
    }

    /// The final network against every other row of the run on the same test images (PairedTop1), in
    /// report order: FP32, the uniform candidates, DQSS-None, the derived networks, the refinements not
    /// kept, the peers. Every rank computes it (the counts are summed over ranks).
    static func pairedWithFinal(_ r: SearchPipelineResult<ShardedEvaluation.Result>, names: [String],
                                evaluation: ShardedEvaluation) -> [PairedTop1] {
        otherRows(r, names: names).map { evaluation.paired(final: r.finalEvaluation, $1, row: $0) }
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
