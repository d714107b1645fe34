// The classification task of the search pipeline (`dqss search --mode ptq`, `dqss demo`): top-1 on the
// test split, each rank evaluating its contiguous range and the counts summed; the §6.2 score, the mean
// KL divergence of the quantized network's softmax from the FP32 one on held-out training images
// (label-free), and optionally the same on further selection images that choose between the refined
// networks; CE or KD on the calibration images as the search loss.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSQuant
import DQSSSearch
import DQSSDistributed

/// Top-1 on the test split (sharded over the ranks), KL to FP32 on the validation images, CE/KD search.
public struct ClassificationSearchTask: SearchTask {
    public let evaluation: ShardedEvaluation
    public let divergence: ValidationDivergence
    public let loss: any SearchLoss
    /// "W4A8": appended to every evaluation's log label.
    public let setting: String
    /// The refinement reuses the unchanged prefix of the network between trials (StagedValidationScore;
    /// same scores as a full pass). False: a full pass per trial (the oracle of the tests).
    public var reusesPrefix = true
    /// The same divergence on selection images disjoint from the validation images (SearchTask.hasSelectionData);
    /// nil: the refinements are compared on the validation images.
    public var selection: ValidationDivergence? = nil

    public init(evaluation: ShardedEvaluation, divergence: ValidationDivergence, loss: any SearchLoss, setting: String) {
        self.evaluation = evaluation
        self.divergence = divergence
        self.loss = loss
        self.setting = setting
    }

    public func evaluate(_ network: any UnaryLayer, _ stage: SearchStage) throws -> ShardedEvaluation.Result {
        let label = switch stage {
        case .fp32: "FP32"
        case .uniform(let name): "\(name) \(setting)"
        case .dqssNone: "DQSS-None \(setting)"
        case .derived(let schedule): "DQSS \(schedule.rawValue) derived \(setting)"
        case .refined: "DQSS (refined) \(setting)"
        case .refinedFrom(let start): "DQSS refined from \(start) (not kept) \(setting)"
        case .peer(let name): "\(name) \(setting)"
        }
        return try evaluation.top1(network, label: label)
    }

    public var hasHeldOutData: Bool { divergence.total > 0 }
    public func score(_ network: any UnaryLayer) -> Double { divergence.score(network) }
    public func refinementScorer(_ network: any UnaryLayer, points: [QuantizationPoint], significance: Double?) -> (any RefinementScorer)? {
        // The gate needs per-image scores, which only the staged scorer keeps (its scores with reuse are a full pass's).
        reusesPrefix || significance != nil
            ? StagedValidationScore(network: network, points: points, divergence: divergence, significance: significance) : nil
    }
    public var scoreDescription: String { "\(divergence.total) validation images (KL to FP32)" }
    public var hasSelectionData: Bool { (selection?.total ?? 0) > 0 }
    public func selectionScore(_ network: any UnaryLayer) -> Double { selection.map { $0.score(network) } ?? score(network) }
}

/// Top-1 on the test split, each rank evaluating its contiguous range and the counts summed.
public struct ShardedEvaluation {
    public let source: ClassificationSource
    /// Test images over all ranks.
    public let total: Int
    public let batch: Int
    public let communicator: any Communicator
    public let log: RankLog
    /// Model and split names for the progress lines.
    public let model: String
    public let split: String

    public init(source: ClassificationSource, total: Int, batch: Int, communicator: any Communicator, log: RankLog,
                model: String, split: String) {
        self.source = source
        self.total = total
        self.batch = batch
        self.communicator = communicator
        self.log = log
        self.model = model
        self.split = split
    }

    public struct Result: Sendable {
        public var correct: Int
        public var total: Int
        public var seconds: Double
        public var top1: Double { 100 * Double(correct) / Double(max(total, 1)) }
        /// This rank's images (its contiguous range, the same in every evaluation of the run): classified correctly.
        public var hits: [Bool] = []
        /// With a `reference`: test images (all ranks) whose top-1 class is FP32's, and the mean KL to FP32.
        public var agreeing: Int? = nil
        public var meanKL: Double? = nil
        /// With a `reference`: KL(softmax(FP32) ‖ softmax(network)) of each of this rank's images, in order.
        public var perImageKL: [Double] = []
    }

    /// Images `local` of this rank's contiguous `range` of the test split.
    func localBatch(_ local: Range<Int>, of range: Range<Int>) throws -> (images: Tensor, labels: [Int]) {
        try source.batch((local.lowerBound + range.lowerBound)..<(local.upperBound + range.lowerBound))
    }

    /// The FP32 network's logits of this rank's test images (`fp32Reference`): with it, every evaluation also
    /// measures its fidelity to FP32 (FidelityToFP32); nil: top-1 only.
    public var reference: FP32TestReference? = nil

    /// This rank's test images through `network` (the FP32 one): the reference of the fidelity measures.
    public func fp32Reference(_ network: any UnaryLayer) throws -> FP32TestReference {
        let range = Sharding.range(count: total, rank: communicator.rank, size: communicator.size)
        var logits: [Float] = [], classes = 0
        let r = try evaluateTop1(network, total: range.count, batchSize: batch,
                                 batch: { try localBatch($0, of: range) },
                                 logits: { images, z in
            classes = z.count / images.count
            logits.append(contentsOf: UnsafeBufferPointer(start: z.data, count: z.count))
        })
        log.progress(String(format: "%@ FP32 logits of %d test images kept as the reference of the fidelity to FP32 (%.1f s)\n",
                            model, total, r.seconds))
        return FP32TestReference(logits: logits, classes: max(classes, 1), predictions: r.predictions)
    }

    /// One row's fidelity to FP32 and the final network's KL against it, paired (every rank calls it); nil
    /// without a reference.
    public func fidelity(final: Result, _ other: Result, row: String) -> FidelityToFP32? {
        guard let agreeing = other.agreeing, let kl = other.meanKL else { return nil }
        precondition(final.perImageKL.count == other.perImageKL.count,
                     "evaluations of \(final.perImageKL.count) and \(other.perImageKL.count) images")
        let d = PairedImprovement(trial: final.perImageKL, current: other.perImageKL).summed(over: communicator)
        return FidelityToFP32(row: row, agreement: 100 * Double(agreeing) / Double(max(total, 1)), kl: kl,
                              klFinalMinusRow: d.mean, klStandardError: d.standardError)
    }

    /// The final network's evaluation against another's on the same test images (every rank calls it).
    public func paired(final: Result, _ other: Result, row: String) -> PairedTop1 {
        precondition(final.hits.count == other.hits.count, "evaluations of \(final.hits.count) and \(other.hits.count) images")
        var counts: [Int64] = [0, 0]
        for (a, b) in zip(final.hits, other.hits) where a != b { counts[a ? 0 : 1] += 1 }
        if communicator.size > 1 { communicator.allreduce(&counts, .sum) }
        return PairedTop1(row: row, finalOnly: Int(counts[0]), rowOnly: Int(counts[1]), total: final.total)
    }

    public func top1(_ network: any UnaryLayer, label: String) throws -> Result {
        let range = Sharding.range(count: total, rank: communicator.rank, size: communicator.size)
        var perImageKL: [Double] = []
        var onLogits: ((Range<Int>, Tensor) -> Void)? = nil
        if let ref = reference {
            onLogits = { images, z in
                precondition(z.count == images.count * ref.classes, "\(label): logits \(z.shape) vs the FP32 reference's \(ref.classes) classes")
                let teacher = Tensor(shape: [images.count, ref.classes])
                ref.logits.withUnsafeBufferPointer { teacher.data.update(from: $0.baseAddress! + images.lowerBound * ref.classes, count: teacher.count) }
                perImageKL += DistillationKL.perRow(logits: z, teacher: teacher)
            }
        }
        let r = try evaluateTop1(network, total: range.count, batchSize: batch, batch: { try localBatch($0, of: range) },
                                 progress: { done, seconds in
            log.progress(String(format: "\r%@ %@ on %@: %d/%d images, %.0f images/s\u{1B}[K", model, label, split,
                                done * communicator.size, total, Double(done * communicator.size) / max(seconds, 1e-9)))
        }, logits: onLogits)
        let correct = communicator.size > 1 ? communicator.allreduce(r.correct, .sum) : r.correct
        var result = Result(correct: correct, total: total, seconds: r.seconds)
        result.hits = r.hits
        if let ref = reference {
            precondition(ref.predictions.count == r.predictions.count,
                         "\(label): \(r.predictions.count) test images vs the FP32 reference's \(ref.predictions.count)")
            var sums = [Double(zip(ref.predictions, r.predictions).filter { $0 == $1 }.count), perImageKL.reduce(0, +)]
            if communicator.size > 1 { communicator.allreduce(&sums, .sum) }
            result.agreeing = Int(sums[0].rounded())
            result.meanKL = sums[1] / Double(max(total, 1))
            result.perImageKL = perImageKL
        }
        log.progress(String(format: "\r%@ %@ on %@: top-1 %.2f %% (%d / %d), %.1f s\u{1B}[K\n", model, label, split, result.top1,
                            correct, total, r.seconds))
        return result
    }
}

/// The §6.2 selection score: mean over the validation images of KL(softmax(FP32) ‖ softmax(quantized)).
public struct ValidationDivergence {
    /// This rank's validation batches and the FP32 network's logits of them.
    public let batches: [Tensor]
    public let reference: [Tensor]
    /// Validation images over all ranks.
    public let total: Int
    public let communicator: any Communicator

    /// The FP32 logits of `batches` from `network` (switched to evaluation mode), the reference of every score.
    public init(network: any UnaryLayer, batches: [Tensor], total: Int, communicator: any Communicator) {
        network.setTraining(false)
        self.batches = batches
        reference = batches.map { network.forward($0).copy() }
        self.total = total
        self.communicator = communicator
    }

    public func score(_ network: any UnaryLayer) -> Double {
        network.setTraining(false)
        return score { _, batch in network.forward(batch) }
    }

    /// The score with `logits(b, batch)` giving the network's logits of validation batch b (StagedValidationScore
    /// computes them from cached stage inputs).
    public func score(logits: (Int, Tensor) -> Tensor) -> Double {
        let kd = DistillationKL()
        var sum = 0.0
        for (i, (b, ref)) in zip(batches, reference).enumerated() {
            sum += Double(kd.forward(logits: logits(i, b), teacher: ref)) * Double(b.shape[0])
        }
        if communicator.size > 1 { sum = communicator.allreduce(sum, .sum) }
        return sum / Double(max(total, 1))
    }

    /// KL to FP32 of every validation image of this rank, in batch order (the significance gate's paired
    /// scores); `logits` as in `score(logits:)`.
    public func perImage(logits: (Int, Tensor) -> Tensor) -> [Double] {
        zip(batches, reference).enumerated().flatMap { i, pair in DistillationKL.perRow(logits: logits(i, pair.0), teacher: pair.1) }
    }

    /// The mean over all ranks' images of per-image scores (`perImage`).
    public func mean(_ perImage: [Double]) -> Double {
        var sum = perImage.reduce(0, +)
        if communicator.size > 1 { sum = communicator.allreduce(sum, .sum) }
        return sum / Double(max(total, 1))
    }

    /// The paired differences trial − current over all ranks' images.
    public func paired(trial: [Double], current: [Double]) -> PairedImprovement {
        PairedImprovement(trial: trial, current: current).summed(over: communicator)
    }
}
