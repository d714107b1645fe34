// `dqss demo`: the built-in default job. Generates the "shapes" data (SyntheticDataset), trains
// TinyConvNet with SGD + cosine schedule, and reports held-out accuracy. Needs no files.

import ArgumentParser
import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels

public struct DemoCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Train a small convnet on generated data and print its test accuracy (no files needed)."
    )

    @Option(help: "Training epochs.") var epochs: Int = 8
    @Option(help: "Batch size.") var batch: Int = 64
    @Option(help: "Base learning rate (cosine-annealed to 0).") var lr: Float = 0.05
    @Option(help: "Seed for data, initialisation and shuffling.") var seed: UInt64 = 0
    @Option(help: "Threads for BLAS and parallel loops (default: all cores).") var threads: Int?
    @Option(help: "Number of generated training images.") var trainImages: Int = 4096
    @Option(help: "Number of generated held-out test images.") var testImages: Int = 1024
    @Flag(help: "No progress on stderr.") var quiet = false
    @Flag(help: "Print one JSON object on stdout.") var json = false

    public init() {}

    public func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard lr > 0 else { throw ValidationError("--lr must be positive") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard trainImages >= batch, testImages >= 1 else {
            throw ValidationError("--train-images must be at least --batch, --test-images at least 1")
        }
    }

    public func run() throws {
        if let threads { Threads.configure(threads) }
        let log = ProgressLog(quiet: quiet)
        let start = Date()
        log.line("generating \(trainImages) training and \(testImages) test images (shapes, 3x16x16, seed \(seed))")
        let train = SyntheticDataset(count: trainImages, seed: seed &* 2 &+ 1)
        let test = SyntheticDataset(count: testImages, seed: seed &* 2 &+ 2)
        var rng = RNG(seed: seed)
        let model = TinyConvNet(classes: train.classCount, rng: &rng)
        let params = model.namedParameters().map(\.parameter)
        let sgd = SGD(groups: [ParameterGroup(name: "weights", parameters: params, lr: lr, momentum: 0.9,
                                              weightDecay: 5e-4, schedule: .cosine(total: Double(epochs)))])
        log.line("training TinyConvNet (\(model.parameterCount) parameters) for \(epochs) epochs, batch \(batch), lr \(lr), \(Threads.count) threads")
        let report = trainClassifier(model, data: train, optimizer: sgd, epochs: epochs, batchSize: batch,
                                     rng: &rng, log: log)
        let eval = evaluateClassifier(model, data: test)
        let seconds = Date().timeIntervalSince(start)
        if json {
            let out: [String: Any] = [
                "task": "demo", "model": "TinyConvNet", "dataset": "synthetic-shapes",
                "classes": train.classCount, "train_images": trainImages, "test_images": testImages,
                "epochs": epochs, "batch": batch, "lr": Double(lr), "seed": seed, "threads": Threads.count,
                "train_loss": Double(report.finalLoss), "train_top1": report.epochAccuracies.last ?? 0,
                "test_loss": Double(eval.loss), "test_top1": eval.top1,
                "images_per_second": report.imagesPerSecond, "seconds": seconds,
            ]
            let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(String(format: "TinyConvNet on generated shapes (%d classes, chance %.1f%%): train loss %.4f, test top-1 %.2f%% (%d images), %.1f s",
                         train.classCount, 100 / Double(train.classCount), report.finalLoss, 100 * eval.top1,
                         eval.count, seconds))
        }
    }
}
