// `dqss eval`: FP32 top-1 of a zoo model with pretrained weights on a labelled split.
//
//   dqss eval --model resnet20 --weights akamaster_resnet20.safetensors --data ../shared/datasets/cifar10 \
//             [--split test] [--limit N] [--batch 200] [--threads N] [--json] [--quiet]
//
// The weights are loaded strictly (every parameter and buffer, nothing extra) before anything runs.
// Normalisation: `input.mean`/`input.std` of the JSON manifest next to the weights (FILE.json) when it
// exists, else the model's documented default; the choice is printed on stderr. Progress (images done,
// images/s) goes to stderr; the result to stdout, as one JSON object with --json.

import ArgumentParser
import Foundation
import DQSSDistributed
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSRun

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Top-1 accuracy of a pretrained FP32 model on a dataset split.",
        discussion: "Models: \(ModelZoo.names.joined(separator: ", ")).")

    @Option(help: "Model name (see Models above).")
    var model: String

    @Option(help: "Weights file (.safetensors, PyTorch state_dict names).")
    var weights: String

    @Option(help: "Dataset directory (CIFAR-10: the folder holding manifest.json).")
    var data: String

    @Option(help: "Split name from the dataset manifest.")
    var split: String = "test"

    @Option(help: "Evaluate only the first N images of the split.")
    var limit: Int?

    @Option(help: "Images per forward pass.")
    var batch: Int = 200

    @OptionGroup var threading: ThreadOptions

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    @Flag(help: "No progress line on stderr.")
    var quiet = false

    func validate() throws {
        if batch < 1 { throw ValidationError("--batch must be at least 1 (got \(batch))") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1 (got \(limit))") }
    }

    func run() throws {
        threading.apply()
        let spec = try ModelZoo.spec(named: model)
        let weightsURL = URL(fileURLWithPath: weights)
        let (norm, normSource) = try spec.normalization(forWeights: weightsURL)
        // Open the data before loading (possibly large) weights, so an unsupported dataset or a wrong
        // directory/split is reported at once.
        let source = try ClassificationSource.open(dataset: spec.dataset, directory: URL(fileURLWithPath: data),
                                                   split: split, normalization: norm)
        guard source.imageShape == spec.inputShape else {
            throw ValidationError("\(model) expects images \(spec.inputShape), split \"\(split)\" has \(source.imageShape)")
        }
        // Strict load: a checkpoint that does not match the model exactly is refused before anything runs.
        let network = try spec.load(weights: weightsURL)
        let stderr = StandardError()
        if !quiet {
            stderr.write("normalisation: mean \(norm.mean) std \(norm.std) (\(normSource))\n")
        }
        let total = min(limit ?? source.count, source.count)
        let result = try evaluateTop1(network, total: total, batchSize: batch, batch: source.batch,
                                      progress: quiet ? nil : { done, seconds in
            stderr.write("\r\(model) \(split): \(done)/\(total) images, \(Int(Double(done) / max(seconds, 1e-9))) images/s")
        })
        if !quiet { stderr.write("\n") }

        let report = EvalReport(model: model, weights: weightsURL.path, data: data, split: split,
                                correct: result.correct, total: result.total, top1: result.top1,
                                seconds: result.seconds,
                                imagesPerSecond: Double(result.total) / max(result.seconds, 1e-9),
                                threads: Threads.count, batch: batch,
                                normalization: .init(mean: norm.mean, std: norm.std, source: normSource))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(String(format: "%@ on %@/%@: top-1 %.2f %% (%d / %d) in %.2f s (%.0f images/s)",
                         model, data, split, result.top1, result.correct, result.total, result.seconds,
                         report.imagesPerSecond))
        }
    }
}

/// The --json output of `dqss eval`.
private struct EvalReport: Encodable {
    struct Norm: Encodable { var mean: [Float]; var std: [Float]; var source: String }
    var model: String
    var weights: String
    var data: String
    var split: String
    var correct: Int
    var total: Int
    /// Percent.
    var top1: Double
    var seconds: Double
    var imagesPerSecond: Double
    var threads: Int
    var batch: Int
    var normalization: Norm

    enum CodingKeys: String, CodingKey {
        case model, weights, data, split, correct, total, top1, seconds, threads, batch, normalization
        case imagesPerSecond = "images_per_second"
    }
}

/// Unbuffered writes to stderr (progress lines must appear while the run goes on).
private struct StandardError: Sendable {
    func write(_ s: String) { StandardErrorProgress.write(s) }
}
