// PTQSearch: optimise only the α, β of a MixedQuantizedModel on the calibration images (ALGORITHMS.md §6).
//
// Schedules:
//   paper     (§6 step 4)  SGD lr 1e-4, momentum 0.9, wd 0, 3 epochs, lr ×0.1 at the start of epochs 2 and
//                          3, batch 256 (one step per epoch on 256 images), τ = 1.
//   annealed  (§6.2)       Adam lr 1e-2, batch 32, 20 epochs, cosine lr decay over the steps,
//                          τ = τ_end^(step / (total_steps − 1)), τ_end = 0.02.
// Loss: cross-entropy with the calibration labels (§9 #11). The model stays in eval mode (BN running
// statistics), weights and thresholds frozen. Batches: the images in a seeded random order per epoch,
// the last batch possibly smaller. Augmentation is the caller's business (pass augmented images).
// After `run` the hooks are left in `.soft` mode at the final τ; derive with `mixed.assignment()`.

import DQSSTensor
import DQSSLayers
import Foundation

public enum SearchSchedule: String, Sendable, Codable, CaseIterable {
    case paper, annealed
}

public struct PTQSearchSettings: Sendable {
    public var schedule: SearchSchedule
    public var epochs: Int
    public var batchSize: Int
    public var lr: Float
    /// SGD momentum (paper schedule; Adam uses β1 = 0.9).
    public var momentum: Float
    /// Final temperature of the annealed schedule (1 = no annealing).
    public var temperatureEnd: Double
    public var seed: UInt64

    public init(schedule: SearchSchedule, epochs: Int, batchSize: Int, lr: Float, momentum: Float = 0.9,
                temperatureEnd: Double, seed: UInt64 = 0) {
        self.schedule = schedule
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

public final class PTQSearch {
    public let model: any UnaryLayer
    public let mixed: MixedQuantizedModel
    public let settings: PTQSearchSettings

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
        let m = images.shape[0]
        precondition(labels.count == m, "\(labels.count) labels for \(m) calibration images")
        let per = images.count / max(m, 1)
        let spe = settings.stepsPerEpoch(images: m), total = spe * settings.epochs
        let params = mixed.architectureParameters.map(\.parameter)
        let group = ParameterGroup(name: "architecture", parameters: params, lr: settings.lr,
                                   momentum: settings.schedule == .paper ? settings.momentum : 0, weightDecay: 0)
        let optimizer: any Optimizer = settings.schedule == .paper ? SGD(groups: [group]) : Adam(groups: [group])
        let ce = SoftmaxCrossEntropy()
        model.setTraining(false)
        mixed.setMode(.soft)
        var rng = RNG(seed: settings.seed)
        var records: [SearchStepRecord] = []
        let batch = Tensor(shape: [0])
        var step = 0
        for epoch in 0..<settings.epochs {
            var order = Array(0..<m)
            for i in stride(from: m - 1, to: 0, by: -1) { order.swapAt(i, rng.int(below: i + 1)) }
            for b in 0..<spe {
                let idx = Array(order[(b * settings.batchSize)..<min(m, (b + 1) * settings.batchSize)])
                var shape = images.shape
                shape[0] = idx.count
                batch.resize(to: shape)
                for (r, i) in idx.enumerated() { (batch.data + r * per).update(from: images.data + i * per, count: per) }
                let tau = settings.temperature(step: step, totalSteps: total)
                let lr = settings.learningRate(epoch: epoch, step: step, totalSteps: total)
                mixed.setTemperature(tau)
                optimizer.groups[0].lr = lr
                mixed.zeroArchitectureGradients()
                let loss = ce.forward(logits: model.forward(batch), labels: idx.map { labels[$0] })
                _ = model.backward(ce.backward())
                optimizer.step()
                let rec = SearchStepRecord(epoch: epoch, step: step, loss: Double(loss), lr: lr, temperature: tau)
                records.append(rec)
                progress?(rec)
                step += 1
            }
        }
        return records
    }
}
