// `dqss demo`: the built-in default job, needing no files. Generates the "shapes" data (SyntheticDataset),
// trains TinyConvNet (a 3x3 conv, a depthwise 3x3, a pointwise 1x1 and a classifier) with SGD + cosine
// schedule, then runs the DQSS PTQ search on it exactly as `dqss search --mode ptq` does on a zoo model
// (the paper's four candidates, or any list given by --candidates; paper and annealed schedules, §6.2
// selection and refinement on held-out generated training images) at a bit width where the candidates
// differ, and prints the comparison table.

import ArgumentParser
import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSDistributed
import DQSSRun

public struct DemoCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Train a small depthwise convnet on generated data, then run the DQSS PTQ search on it (no files needed)."
    )

    @Option(help: "Training epochs.") var epochs: Int = 8
    @Option(help: "Batch size.") var batch: Int = 64
    @Option(help: "Base learning rate (cosine-annealed to 0).") var lr: Float = 0.05
    @Option(help: "Seed for data, initialisation and shuffling.") var seed: UInt64 = 0
    @OptionGroup var threading: ThreadOptions
    @Option(help: "Number of generated training images.") var trainImages: Int = 4096
    @Option(help: "Number of generated held-out test images.") var testImages: Int = 1024
    @Option(help: "Weight bit width of the search.") var weightBits: Int = 4
    @Option(help: "Activation bit width of the search.") var actBits: Int = 3
    @Option(help: "Calibration images (drawn from the generated training images).") var calib: Int = 256
    @Option(help: "Held-out validation images for the §6.2 selection (also from the training images).") var valImages: Int = 512
    @Option(help: "PTQ candidates of the search in branch order, as `dqss search --mode ptq --candidates` (e.g. maxabs,kl,easyquant,admm,mse,percentile:99.99).",
            transform: PTQCandidates.parse)
    var candidates = PTQCandidates(PTQMethod.paperCandidates)
    @Flag(help: "Only train and evaluate the FP32 network (no search).") var noSearch = false
    @OptionGroup var output: OutputOptions

    public init() {}

    public func validate() throws {
        try requireAtLeast(1, "--epochs", epochs)
        try requireAtLeast(1, "--batch", batch)
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a finite positive number (got \(lr))") }
        guard trainImages >= batch, testImages >= 1 else {
            throw ValidationError("--train-images must be at least --batch, --test-images at least 1")
        }
        for (flag, b) in [("--weight-bits", weightBits), ("--act-bits", actBits)] where !(2...8).contains(b) {
            throw ValidationError("\(flag) must be in 2...8 (got \(b))")
        }
        guard calib >= 1, valImages >= 0, calib + valImages <= trainImages else {
            throw ValidationError("--calib (at least 1) + --val-images must not exceed --train-images")
        }
    }

    public func run() throws {
        threading.apply()
        let log = ProgressLog(quiet: output.quiet)
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
        let report = try trainClassifier(model, data: train, optimizer: sgd, epochs: epochs, batchSize: batch,
                                     rng: &rng, log: log)
        let eval = try evaluateClassifier(model, data: test)
        let trainSeconds = Date().timeIntervalSince(start)
        log.line(String(format: "FP32: train loss %.4f, test top-1 %.2f %% (%d images, %d classes, chance %.1f %%), %.1f s",
                        report.finalLoss, 100 * eval.top1, eval.count, train.classCount, 100 / Double(train.classCount),
                        trainSeconds))
        var training: [String: Any] = [
            "model": "TinyConvNet", "dataset": "synthetic-shapes", "classes": train.classCount,
            "train_images": trainImages, "test_images": testImages, "epochs": epochs, "batch": batch, "lr": Double(lr),
            "train_loss": Double(report.finalLoss), "train_top1": report.epochAccuracies.last ?? 0,
            "test_loss": Double(eval.loss), "test_top1": eval.top1, "images_per_second": report.imagesPerSecond,
            "seconds": trainSeconds,
        ]
        if noSearch {
            training["task"] = "demo"
            training["seed"] = seed
            training["threads"] = Threads.count
            if output.json {
                try printJSONObject(training)
            } else {
                print(String(format: "TinyConvNet on generated shapes: test top-1 %.2f%% (%d images), %.1f s", 100 * eval.top1,
                             eval.count, trainSeconds))
            }
            return
        }

        // The DQSS search on the trained network: the pipeline of `dqss search --mode ptq`.
        let options = PTQSearchOptions(
            model: "TinyConvNet", weights: "(trained by dqss demo, seed \(seed))", data: "generated shapes",
            methods: candidates.methods,
            ptq: PTQSettings(weightBits: weightBits, activationBits: actBits),
            calib: calib, valImages: valImages, refinePasses: 1, seed: seed, calibSplit: "train", split: "test",
            limit: nil, batch: 256, calibBatch: 64,
            searches: [PTQSearchSettings.paper, PTQSearchSettings.annealed].map { var s = $0; s.seed = seed; return s },
            distillation: false, out: nil, json: output.json, markdown: false, quiet: output.quiet,
            commandLine: CommandLine.arguments.joined(separator: " "))
        log.line("DQSS search on the trained network, W\(weightBits)A\(actBits), \(calib) calibration and \(valImages) validation images")
        let search = try PTQSearchRun.search(model, train: .generated(train), test: .generated(test), options,
                                             communicator: SingleProcess())
        let seconds = Date().timeIntervalSince(start)
        if output.json {
            let searchObject = try JSONSerialization.jsonObject(with: Data(try search.jsonString().utf8))
            try printJSONObject(["task": "demo", "seed": seed, "threads": Threads.count, "seconds": seconds,
                                 "training": training, "search": searchObject])
        } else {
            print(search.layerTable())
            print(search.summary())
            print(String(format: "\n(TinyConvNet trained on generated shapes in %.0f s; whole demo %.0f s. The same search on a real model: "
                         + "dqss search --mode ptq --model resnet20 --weights ... --data ...)", trainSeconds, seconds))
        }
    }
}

extension ClassificationSource {
    /// Generated images (already in a network-ready range: no normalisation).
    static func generated(_ d: SyntheticDataset) -> ClassificationSource {
        let images = Tensor(shape: [0])
        return ClassificationSource(count: d.count, imageShape: d.imageShape) { range in
            let labels = d.fillBatch(Array(range)[...], images: images)
            return (images, labels)
        }
    }
}
