// The option groups the commands share, so that each flag is declared once and means the same thing in
// every command that takes it (ThreadOptions and CheckpointOptions live in their own files):
//
//   NetworkOptions      --model NAME --weights FILE        (eval, ptq, search, sr-eval, sr-search)
//   HeadOptions         --num-classes N                    (every command that builds a classifier)
//   DataOptions         --data DIR                         (eval, ptq, search, qat)
//   EvaluationOptions   --split NAME --limit N --eval-batch N   (qat; InferenceOptions in eval, ptq, search, export)
//   OutputOptions       --json --quiet                     (every command)
//   TableOutputOptions  OutputOptions + --markdown          (ptq, search, qat)
//
// A renamed flag keeps its old spelling as a hidden alias (DeprecatedSpelling): still accepted, not in
// --help, a warning on stderr naming the new spelling; giving both spellings is refused.

import ArgumentParser
import Foundation
import DQSSDistributed
import DQSSRun

/// --model and --weights of a command that needs both (a zoo model and its pretrained weights).
struct NetworkOptions: ParsableArguments {
    @Option(help: "Model name (see Models below).")
    var model: String

    @Option(help: "Weights file (.safetensors, PyTorch state_dict names); mean/std from the manifest <weights>.json beside it.")
    var weights: String

    var weightsURL: URL { URL(fileURLWithPath: weights) }
}

/// --num-classes: the classifier head of weights trained on another label set.
struct HeadOptions: ParsableArguments {
    @Option(help: "Classes of the classifier head, for weights trained on another label set (default: the model's: 10 for CIFAR models, 1000 for ImageNet ones).")
    var numClasses: Int?

    func validate() throws {
        try requireAtLeast(1, "--num-classes", numClasses)
    }
}

/// --data: the dataset directory of a classification command.
struct DataOptions: ParsableArguments {
    @Option(help: "Dataset directory: CIFAR-10 records (the folder holding manifest.json) or `dqss prepare` shards.")
    var data: String

    var url: URL { URL(fileURLWithPath: data) }
}

/// The split a command measures top-1 on, how much of it, and in which batches.
struct EvaluationOptions: ParsableArguments {
    @Option(help: "Split to evaluate on (a split of the dataset's manifest, or a shard folder).")
    var split: String = "test"

    @Option(help: "Evaluate only the first N images of the split.")
    var limit: Int?

    @Option(help: "Images per forward pass during evaluation (default: 200).")
    var evalBatch: Int?

    @Option(name: .customLong("eval-limit"), help: .hidden)
    var deprecatedEvalLimit: Int?

    /// --limit, or its old spelling --eval-limit (`dqss qat`).
    var evaluationLimit: Int? { limit ?? deprecatedEvalLimit }
    /// --eval-batch.
    var batch: Int { evalBatch ?? 200 }

    func validate() throws {
        let flag = try DeprecatedSpelling.resolve(old: "--eval-limit", deprecatedEvalLimit, new: "--limit", limit)
        try requireAtLeast(1, flag, evaluationLimit)
        try requireAtLeast(1, "--eval-batch", evalBatch)
    }
}

/// EvaluationOptions of a command that does not train, where --eval-batch was spelled --batch (in the
/// training commands --batch is the training batch).
struct InferenceOptions: ParsableArguments {
    @OptionGroup var evaluation: EvaluationOptions

    @Option(name: .customLong("batch"), help: .hidden)
    var deprecatedBatch: Int?

    var split: String { evaluation.split }
    var limit: Int? { evaluation.evaluationLimit }
    /// --eval-batch, or its old spelling --batch.
    var batch: Int { deprecatedBatch ?? evaluation.batch }

    func validate() throws {
        try DeprecatedSpelling.resolve(old: "--batch", deprecatedBatch, new: "--eval-batch", evaluation.evalBatch)
        try requireAtLeast(1, "--batch", deprecatedBatch)
    }

    /// How many images of `source` to evaluate.
    func total(of count: Int) -> Int { min(limit ?? count, count) }
}

/// --json and --quiet.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON object on stdout (progress and warnings stay on stderr).")
    var json = false

    @Flag(help: "No progress on stderr (warnings are still printed).")
    var quiet = false

    var progress: StderrProgress { StderrProgress(quiet: quiet) }
}

/// --json, --markdown and --quiet of the commands that print table rows; --json and --markdown exclude each other.
struct TableOutputOptions: ParsableArguments {
    @OptionGroup var output: OutputOptions

    @Flag(help: "Print one Markdown table row on stdout (the row format of docs/results.md).")
    var markdown = false

    var json: Bool { output.json }
    var quiet: Bool { output.quiet }
    var progress: StderrProgress { output.progress }

    func validate() throws {
        if json && markdown { throw ValidationError("--json and --markdown both print on stdout: choose one") }
    }
}

/// The old spelling of a renamed flag: accepted, hidden from --help, with a warning on stderr.
enum DeprecatedSpelling {
    /// The flag the user gave (for error messages): `new`, or `old` with a warning. Both given is refused.
    @discardableResult
    static func resolve<T>(old: String, _ oldValue: T?, new: String, _ newValue: T?) throws -> String {
        guard oldValue != nil else { return new }
        if newValue != nil { throw ValidationError("\(old) is the old spelling of \(new): give only \(new)") }
        warn("\(old) is deprecated, use \(new)")
        return old
    }
}

/// Progress on stderr, nothing with --quiet: whole lines, or in-place updates ("\r...") that
/// StandardErrorProgress turns into plain lines at a steady rate when stderr is not a terminal.
struct StderrProgress {
    let quiet: Bool

    func write(_ text: String) {
        if !quiet { StandardErrorProgress.write(text) }
    }

    func line(_ text: String) { write(text + "\n") }
}

/// Refuses a flag's value below `minimum`, naming the flag: "--calib must be at least 1 (got 0)". A flag
/// not given (nil) passes.
func requireAtLeast(_ minimum: Int, _ flag: String, _ value: Int?, unit: String = "") throws {
    if let value, value < minimum { throw ValidationError("\(flag) must be at least \(minimum)\(unit) (got \(value))") }
}

/// A warning on stderr ("dqss: warning: ..."), printed with --quiet too.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("dqss: warning: \(message)\n".utf8))
}

/// One JSON object on stdout, keys sorted, slashes unescaped (the --json output of every command). With
/// `snakeCase`, property names become snake_case keys (`imagesPerSecond` -> `images_per_second`): for
/// reports without dictionaries, whose keys (set names, labels) the conversion would change too.
func printJSON<T: Encodable>(_ value: T, snakeCase: Bool = false) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    if snakeCase { encoder.keyEncodingStrategy = .convertToSnakeCase }
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// One JSON object on stdout from a dictionary (the commands whose output has free-form parts).
func printJSONObject(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}
