// `dqss eval`: FP32 top-1 of a zoo model with pretrained weights on a labelled split.
//
//   dqss eval --model resnet20 --weights akamaster_resnet20.safetensors --data ../shared/datasets/cifar10 \
//             [--num-classes N] [--split test] [--limit N] [--eval-batch 200] [--threads N] [--json] [--quiet]
//
// The weights are loaded strictly (every parameter and buffer, nothing extra) before anything runs.
// Normalisation: `input.mean`/`input.std` of the JSON manifest next to the weights (FILE.json) when it
// exists, else the model's documented default with a warning; the choice is printed on stderr. Progress
// (images done, images/s) goes to stderr; the result to stdout, as one JSON object with --json.

import ArgumentParser
import Foundation
import DQSSTensor
import DQSSDistributed
import DQSSModels
import DQSSRun

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Top-1 accuracy of a pretrained FP32 model on a dataset split.",
        discussion: "Models: \(ModelZoo.names.joined(separator: ", ")).")

    @OptionGroup var network: NetworkOptions
    @OptionGroup var head: HeadOptions
    @OptionGroup var data: DataOptions
    @OptionGroup var evaluation: InferenceOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        threading.apply()
        let classifier = try LoadedClassifier(network, head: head)
        // Open the data before loading (possibly large) weights, so an unsupported dataset or a wrong
        // directory/split is reported at once.
        let source = try classifier.open(evaluation.split, of: data)
        // Strict load: a checkpoint that does not match the model exactly is refused before anything runs.
        let model = try classifier.load()
        let norm = classifier.normalization
        if !output.quiet {
            StandardErrorProgress.write("normalisation: mean \(norm.mean) std \(norm.std) (\(classifier.normalizationSource))\n")
        }
        let result = try evaluateWithProgress(model, source: source, total: evaluation.total(of: source.count),
                                              batch: evaluation.batch, label: "\(network.model) \(evaluation.split)",
                                              quiet: output.quiet)
        let report = ClassificationReport(model: network.model, weights: classifier.weights.path, data: data.data,
                                          split: evaluation.split, result: result, batch: evaluation.batch,
                                          normalization: classifier.normalizationReport)
        if output.json {
            try printJSON(report, snakeCase: true)
        } else {
            print(String(format: "%@ on %@/%@: top-1 %.2f %% (%d / %d) in %.2f s (%.0f images/s)",
                         network.model, data.data, evaluation.split, result.top1, result.correct, result.total,
                         result.seconds, report.imagesPerSecond))
        }
    }
}
