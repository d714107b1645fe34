// A reusable supervised training loop for image classifiers (softmax cross-entropy), and evaluation.
//
// Each epoch visits every training example once in an order drawn from `rng` (Fisher–Yates), in
// batches of `batchSize` (the last, smaller batch is kept). Before every step the optimizer's groups get
// their lr from their schedules at fractional epoch e + step/stepsPerEpoch. Progress goes to stderr
// (epoch, step, running loss, images/s, ETA) at most about once a second and at each epoch's end,
// unless `quiet`.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData

public struct TrainingReport: Sendable {
    /// Mean training loss of each epoch.
    public var epochLosses: [Float]
    /// Mean training accuracy (argmax in train mode) of each epoch.
    public var epochAccuracies: [Double]
    public var steps: Int
    public var images: Int
    public var seconds: Double
    public var imagesPerSecond: Double { seconds > 0 ? Double(images) / seconds : 0 }
    /// Mean loss of the last epoch (0 when no epoch ran).
    public var finalLoss: Float { epochLosses.last ?? 0 }
}

public struct EvaluationReport: Sendable {
    public var loss: Float
    public var top1: Double
    public var top5: Double
    public var count: Int
}

/// Writes progress lines to stderr (nothing when quiet).
public struct ProgressLog: Sendable {
    public var quiet: Bool
    public init(quiet: Bool) { self.quiet = quiet }
    public func line(_ s: String) {
        if quiet { return }
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }
}

func formatDuration(_ s: Double) -> String {
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) : String(format: "%dm%02ds", t / 60, t % 60)
}

/// Train `model` on `data`; leaves the model in training mode.
public func trainClassifier(_ model: any UnaryLayer, data: any LabeledImageSource, optimizer: any Optimizer,
                            epochs: Int, batchSize: Int, rng: inout RNG,
                            log: ProgressLog = ProgressLog(quiet: true)) throws -> TrainingReport {
    precondition(batchSize > 0 && epochs >= 0, "trainClassifier: batch \(batchSize), epochs \(epochs)")
    model.setTraining(true)
    let loss = SoftmaxCrossEntropy()
    let batch = Tensor(shape: [0])
    let stepsPerEpoch = (data.count + batchSize - 1) / batchSize
    let totalSteps = stepsPerEpoch * epochs
    var report = TrainingReport(epochLosses: [], epochAccuracies: [], steps: 0, images: 0, seconds: 0)
    let clock = ContinuousClock()
    let start = clock.now
    var lastPrint = start
    func elapsed(_ since: ContinuousClock.Instant) -> Double {
        let d = clock.now - since
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
    for epoch in 0..<epochs {
        let order = rng.permutation(data.count)
        var lossSum = 0.0, correct = 0, seen = 0
        for step in 0..<stepsPerEpoch {
            optimizer.setEpoch(Double(epoch) + Double(step) / Double(stepsPerEpoch))
            let lo = step * batchSize, hi = min(lo + batchSize, data.count)
            let labels = try data.fillBatch(order[lo..<hi], images: batch)
            let logits = model.forward(batch)
            let l = loss.forward(logits: logits, labels: labels)
            correct += correctCount(logits, labels: labels)
            model.zeroGradients()
            _ = model.backward(loss.backward())
            optimizer.step()
            lossSum += Double(l) * Double(labels.count)
            seen += labels.count
            report.steps += 1
            report.images += labels.count
            if !log.quiet && (elapsed(lastPrint) >= 1 || step == stepsPerEpoch - 1) {
                lastPrint = clock.now
                let t = elapsed(start), rate = Double(report.images) / max(t, 1e-9)
                let eta = t / Double(report.steps) * Double(totalSteps - report.steps)
                log.line(String(format: "epoch %d/%d step %d/%d loss %.4f acc %.3f  %.0f img/s  ETA %@",
                                epoch + 1, epochs, step + 1, stepsPerEpoch, lossSum / Double(seen),
                                Double(correct) / Double(seen), rate, formatDuration(eta)))
            }
        }
        report.epochLosses.append(Float(lossSum / Double(max(seen, 1))))
        report.epochAccuracies.append(Double(correct) / Double(max(seen, 1)))
    }
    report.seconds = elapsed(start)
    return report
}

/// Evaluate `model` in eval mode on every example of `data` (mean loss, top-1, top-5); restores the
/// model's previous mode afterwards.
public func evaluateClassifier(_ model: any UnaryLayer, data: any LabeledImageSource,
                               batchSize: Int = 256) throws -> EvaluationReport {
    let wasTraining = model.isTraining
    model.setTraining(false)
    defer { model.setTraining(wasTraining) }
    let loss = SoftmaxCrossEntropy()
    let batch = Tensor(shape: [0])
    var lossSum = 0.0, top1 = 0, top5 = 0
    var lo = 0
    while lo < data.count {
        let hi = min(lo + batchSize, data.count)
        let labels = try data.fillBatch(Array(lo..<hi)[...], images: batch)
        let logits = model.forward(batch)
        lossSum += Double(loss.forward(logits: logits, labels: labels)) * Double(labels.count)
        top1 += correctCount(logits, labels: labels)
        top5 += correctCount(logits, labels: labels, topK: 5)
        lo = hi
    }
    let n = Double(max(data.count, 1))
    return EvaluationReport(loss: Float(lossSum / n), top1: Double(top1) / n, top5: Double(top5) / n, count: data.count)
}
