// PTQSearch: optimise only the α, β of a MixedQuantizedModel on the calibration images (ALGORITHMS.md §6).
//
// Schedules:
//   paper     (§6 step 4)  SGD lr 1e-4, momentum 0.9, wd 0, 3 epochs, lr ×0.1 at the start of epochs 2 and
//                          3, batch 256 (one step per epoch on 256 images), τ = 1.
//   annealed  (§6.2)       Adam lr 1e-2, batch 32, 20 epochs, cosine lr decay over the steps,
//                          τ = τ_end^(step / (total_steps − 1)), τ_end = 0.02.
//   progressive fixing (`--progressive-fixing`, issue 18's "progressive fixing of the most decisive layers"):
//                          after the optimiser step of step s (0-based, of T), the layer sides whose mixture is
//                          most decisive (largest top − second θ at the step's τ; ties -> lower index,
//                          activation sides before weight sides) are fixed to their argmax until
//                          floor(H·(s+1)/T) of the H sides are: a fixed side runs one-hot (winner-take-all) from
//                          the next step on, so the rest of the search adapts to the choice, and its logits stay
//                          as they were when it was fixed (restored after every step: Adam's momentum would
//                          move them without a gradient). After the last step every side is fixed, and the
//                          derived network is the fixed winners.
//   straight-through Gumbel (`--gumbel-straight-through`, issue 18's "straight-through hard (Gumbel) sampling"):
//                          before every step each side draws Gumbel(0, 1) noise g (its own seeded stream, the
//                          same on every rank, so data parallelism is unchanged) and the step's forward runs the
//                          sampled one-hot network argmax(l/τ + g), the backward the relaxed sample's gradient
//                          (MixedQuantHook's header). Early, at τ ≈ 1, the samples explore; as τ → τ_end they
//                          concentrate on the argmax. The noise is cleared after the run.
// Loss: cross-entropy with the calibration labels (§9 #11), or with `teacherLogits` the KL divergence to the
// FP32 network's softmax (`--search-loss kd`, label-free; DistillationKL). The model stays in eval mode (BN running
// statistics), weights and thresholds frozen. Batches: the images in a seeded random order per epoch,
// the last batch possibly smaller. Augmentation is the caller's business (pass augmented images).
// After `run` the hooks are left in `.soft` mode at the final τ; derive with `mixed.assignment()`.
//
// Data parallelism (`run(images:labels:firstImage:totalImages:reducer:)`): every rank holds only its
// shard of the calibration images (global indices firstImage ..< firstImage + its count). The epoch
// order and the batches are those of one process over all images (same seed); each rank runs forward
// and backward on the members of the global batch that lie in its shard, and the reducer averages the
// α, β gradients over the global batch (Σ_r n_r/N g_r). BN is in eval mode, so per-sample gradients do
// not depend on which rank holds the sample: the search equals the single-process one up to float
// summation order, whatever the number of ranks. A non-finite loss on a rank throws (naming the rank)
// BEFORE the gradient allreduce, so that rank aborts the job and the others never use its gradient.

import DQSSTensor
import DQSSLayers
import DQSSDistributed
import Foundation

public enum SearchSchedule: String, Sendable, Codable, CaseIterable {
    case paper, annealed
}

/// The α/β optimiser (paper: SGD with momentum; annealed: Adam). Either schedule can use either.
public enum SearchOptimizer: String, Sendable, Codable, CaseIterable {
    case sgd, adam
}

public struct PTQSearchSettings: Sendable {
    public var schedule: SearchSchedule
    public var epochs: Int
    public var batchSize: Int
    public var lr: Float
    /// SGD (paper default) or Adam (annealed default).
    public var optimizer: SearchOptimizer
    /// SGD momentum (Adam uses β1 = 0.9).
    public var momentum: Float
    /// Final temperature of the annealed schedule (1 = no annealing).
    public var temperatureEnd: Double
    public var seed: UInt64
    /// Progressive fixing of the most decisive layer sides during the search (file header); off by default.
    public var progressiveFixing = false
    /// Straight-through Gumbel sampling of a one-hot network per step (file header); off by default.
    public var gumbelStraightThrough = false

    public init(schedule: SearchSchedule, epochs: Int, batchSize: Int, lr: Float, momentum: Float = 0.9,
                temperatureEnd: Double, seed: UInt64 = 0, optimizer: SearchOptimizer? = nil) {
        self.schedule = schedule
        self.optimizer = optimizer ?? (schedule == .paper ? .sgd : .adam)
        self.epochs = epochs
        self.batchSize = batchSize
        self.lr = lr
        self.momentum = momentum
        self.temperatureEnd = temperatureEnd
        self.seed = seed
    }

    /// §6 step 4.
    public static let paper = PTQSearchSettings(schedule: .paper, epochs: 3, batchSize: 256, lr: 1e-4, temperatureEnd: 1)
    /// §6.2 default search.
    public static let annealed = PTQSearchSettings(schedule: .annealed, epochs: 20, batchSize: 32, lr: 1e-2,
                                                   temperatureEnd: 0.02)

    public static func defaults(_ s: SearchSchedule) -> PTQSearchSettings { s == .paper ? .paper : .annealed }

    /// τ at `step` of `totalSteps`: 1 for the paper schedule; τ_end^(step/(total−1)) when annealed.
    public func temperature(step: Int, totalSteps: Int) -> Double {
        guard schedule == .annealed, totalSteps > 1 else { return schedule == .annealed && totalSteps == 1 ? temperatureEnd : 1 }
        return pow(temperatureEnd, Double(step) / Double(totalSteps - 1))
    }

    /// The learning rate of `step` (in `epoch`) of `totalSteps`.
    public func learningRate(epoch: Int, step: Int, totalSteps: Int) -> Float {
        switch schedule {
        case .paper: return LRSchedule.step(milestones: [1, 2], gamma: 0.1).lr(at: Double(epoch), base: lr)
        case .annealed: return LRSchedule.cosine(total: Double(totalSteps)).lr(at: Double(step), base: lr)
        }
    }

    /// The α/β optimiser over `params` (one group, no weight decay, §6 step 4).
    public func makeOptimizer(_ params: [Parameter]) -> any Optimizer {
        let group = ParameterGroup(name: "architecture", parameters: params, lr: lr,
                                   momentum: optimizer == .sgd ? momentum : 0, weightDecay: 0)
        return optimizer == .sgd ? SGD(groups: [group]) : Adam(groups: [group])
    }

    /// Steps per epoch for `images` calibration images.
    public func stepsPerEpoch(images: Int) -> Int { (images + batchSize - 1) / batchSize }
}

/// One optimisation step of the search.
public struct SearchStepRecord: Sendable, Codable {
    public var epoch: Int
    public var step: Int
    public var loss: Double
    public var lr: Float
    public var temperature: Double
}

/// Where the time of the search steps went (data-parallel benchmark).
public struct SearchTiming: Sendable, Codable {
    /// Forward + backward (this rank), summed over steps.
    public var computeSeconds = 0.0
    /// Inside the gradient and loss allreduce calls (waiting for the slowest rank included).
    public var allreduceSeconds = 0.0
    /// Gradient bytes allreduced per step (α and β of every layer).
    public var allreduceBytesPerStep = 0
    public var steps = 0
}

public final class PTQSearch {
    public let model: any UnaryLayer
    public let mixed: MixedQuantizedModel
    public let settings: PTQSearchSettings
    /// Timing of the last data-parallel `run`.
    public private(set) var timing = SearchTiming()

    public init(model: any UnaryLayer, mixed: MixedQuantizedModel, settings: PTQSearchSettings) {
        precondition(settings.epochs >= 1 && settings.batchSize >= 1 && settings.lr >= 0,
                     "search needs epochs >= 1, batch >= 1, lr >= 0")
        self.model = model
        self.mixed = mixed
        self.settings = settings
    }

    /// Run the schedule over `images` [M, C, H, W] with `labels` (M). `progress` after every step.
    @discardableResult
    public func run(images: Tensor, labels: [Int], progress: ((SearchStepRecord) -> Void)? = nil) -> [SearchStepRecord] {
        // Without the finite-loss check the data-parallel run cannot throw.
        (try? run(images: images, labels: labels, firstImage: 0, totalImages: images.shape[0],
                  reducer: LocalGradientReducer(), checkFinite: false, progress: progress)) ?? []
    }

    /// Data-parallel run (see the file header): `images` [m, C, H, W] and `labels` (m) are this rank's
    /// calibration images, global indices firstImage ..< firstImage + m of `totalImages`. Every rank must
    /// call it with the same settings and totalImages. Records carry the global mean loss (identical on
    /// every rank). Throws `SearchError.nonFiniteLoss` on the rank whose loss is not finite.
    /// With `teacherLogits` ([m, K], this rank's rows, the FP32 network's logits of the same images) the
    /// loss is the KL divergence to the teacher's softmax and `labels` are not used.
    @discardableResult
    public func run(images: Tensor, labels: [Int], teacherLogits: Tensor? = nil, firstImage: Int, totalImages: Int,
                    reducer: any BatchGradientReducer,
                    checkFinite: Bool = true, progress: ((SearchStepRecord) -> Void)? = nil) throws -> [SearchStepRecord] {
        let local = images.shape[0]
        precondition(labels.count == local, "\(labels.count) labels for \(local) calibration images")
        if let t = teacherLogits {
            precondition(t.shape.first == local, "teacher logits \(t.shape) for \(local) calibration images")
        }
        precondition(firstImage >= 0 && firstImage + local <= totalImages,
                     "shard \(firstImage)..<\(firstImage + local) outside \(totalImages) calibration images")
        let params = mixed.architectureParameters.map(\.parameter)
        let ce = SoftmaxCrossEntropy(), kd = DistillationKL()
        let batch = Tensor(shape: [0]), teacherBatch = Tensor(shape: [0])
        // Every replica starts from rank 0's logits (they are equal by construction; this makes it so).
        if reducer.size > 1 { reducer.broadcastValues(params) }
        var timing = SearchTiming()
        let clock = ContinuousClock()
        let records = try runSchedule(totalImages: totalImages, progress: progress) { step, global in
            // This rank's members of the global batch, in batch order, as local indices.
            let idx = global.compactMap { i in (firstImage..<firstImage + local).contains(i) ? i - firstImage : nil }
            let start = clock.now
            var loss: Float = 0
            if !idx.isEmpty {
                batch.gatherRows(of: images, at: idx)
                if let teacherLogits {
                    teacherBatch.gatherRows(of: teacherLogits, at: idx)
                    loss = kd.forward(logits: model.forward(batch), teacher: teacherBatch)
                } else {
                    loss = ce.forward(logits: model.forward(batch), labels: idx.map { labels[$0] })
                }
                if checkFinite && !loss.isFinite {
                    throw SearchError.nonFiniteLoss(step: step, rank: reducer.rank, size: reducer.size, value: loss)
                }
                _ = model.backward(teacherLogits == nil ? ce.backward() : kd.backward())
            }
            let computed = clock.now
            var globalLoss = Double(loss)
            if reducer.size > 1 || idx.count != global.count {
                reducer.averageGradients(params, localCount: idx.count, globalCount: global.count)
                globalLoss = reducer.sum([Double(loss) * Double(idx.count)])[0] / Double(global.count)
            }
            timing.computeSeconds += (computed - start).seconds
            timing.allreduceSeconds += (clock.now - computed).seconds
            timing.steps += 1
            return globalLoss
        }
        timing.allreduceBytesPerStep = reducer.size > 1 ? params.reduce(0) { $0 + $1.grad.count * 4 } : 0
        self.timing = timing
        return records
    }

    /// The schedule every search loss shares: eval-mode model, soft mixture, a seeded shuffle of the
    /// `totalImages` calibration indices per epoch, cut into batches; per step τ and lr set, α/β gradients
    /// zeroed, `step(stepIndex, globalBatch)` (forward and backward of that batch; returns the loss to
    /// record), then one optimiser step.
    func runSchedule(totalImages m: Int, progress: ((SearchStepRecord) -> Void)?,
                     step body: (Int, ArraySlice<Int>) throws -> Double) rethrows -> [SearchStepRecord] {
        let spe = settings.stepsPerEpoch(images: m), total = spe * settings.epochs
        let optimizer = settings.makeOptimizer(mixed.architectureParameters.map(\.parameter))
        model.setTraining(false)
        mixed.setMode(.soft)
        let hooks = mixed.allHooks
        // Fixed side (index in `hooks`) -> its logits when it was fixed.
        var fixed: [Int: [Float]] = [:]
        defer {
            if settings.progressiveFixing { mixed.setMode(.soft) }
            if settings.gumbelStraightThrough { for h in hooks { h.gumbelNoise = nil } }
        }
        var rng = RNG(seed: settings.seed)
        // A stream of its own, so the batches are those of the search without sampling.
        var gumbel = RNG(seed: settings.seed ^ 0x6A09_E667_F3BC_C908)
        var records: [SearchStepRecord] = []
        var step = 0
        for epoch in 0..<settings.epochs {
            var order = Array(0..<m)
            for i in stride(from: m - 1, to: 0, by: -1) { order.swapAt(i, rng.int(below: i + 1)) }
            for b in 0..<spe {
                let global = order[(b * settings.batchSize)..<min(m, (b + 1) * settings.batchSize)]
                let tau = settings.temperature(step: step, totalSteps: total)
                let lr = settings.learningRate(epoch: epoch, step: step, totalSteps: total)
                mixed.setTemperature(tau)
                optimizer.groups[0].lr = lr
                mixed.zeroArchitectureGradients()
                if settings.gumbelStraightThrough {
                    for h in hooks { h.gumbelNoise = (0..<h.count).map { _ in Self.gumbelDraw(&gumbel) } }
                }
                let loss = try body(step, global)
                optimizer.step()
                if settings.progressiveFixing { Self.fixProgressively(hooks, &fixed, step: step, totalSteps: total) }
                let rec = SearchStepRecord(epoch: epoch, step: step, loss: loss, lr: lr, temperature: tau)
                records.append(rec)
                progress?(rec)
                step += 1
            }
        }
        return records
    }

    /// One Gumbel(0, 1) draw, −log(−log u) with u uniform in the open interval (0, 1).
    static func gumbelDraw(_ rng: inout RNG) -> Double {
        let u = (Double(rng.next() >> 11) + 0.5) * 0x1p-53
        return -log(-log(u))
    }

    /// Progressive fixing after the optimiser step of `step` (file header): restore the fixed sides' logits,
    /// then fix the most decisive free sides until floor(H·(step+1)/T) are fixed.
    static func fixProgressively(_ hooks: [MixedQuantHook], _ fixed: inout [Int: [Float]], step: Int, totalSteps: Int) {
        for (i, v) in fixed { hooks[i].logits.value.data.update(from: v, count: v.count) }
        let target = hooks.count * (step + 1) / max(totalSteps, 1)
        guard target > fixed.count else { return }
        let free = hooks.indices.filter { fixed[$0] == nil }.map { (index: $0, margin: hooks[$0].thetaMargin) }
        let order = free.sorted { $0.margin != $1.margin ? $0.margin > $1.margin : $0.index < $1.index }
        for f in order.prefix(target - fixed.count) {
            let h = hooks[f.index]
            h.mode = .winnerTakeAll
            fixed[f.index] = h.logits.value.array
        }
    }
}

extension Tensor {
    /// Resize to [indices.count, source.shape[1...]] and copy those rows (first-axis slices) of `source`.
    func gatherRows(of source: Tensor, at indices: [Int]) {
        var shape = source.shape
        let per = shape[0] == 0 ? 0 : source.count / shape[0]
        shape[0] = indices.count
        resize(to: shape)
        for (r, i) in indices.enumerated() { (data + r * per).update(from: source.data + i * per, count: per) }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
