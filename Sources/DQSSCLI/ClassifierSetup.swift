// What every classification command does before it computes: the zoo model with the head of
// --num-classes, the normalisation for its weights (a warning when <weights>.json gives none), the
// evaluation split checked against the model's input shape and head, and the strict weight load.

import ArgumentParser
import Foundation
import DQSSTensor
import DQSSDistributed
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSShards
import DQSSRun

extension HeadOptions {
    /// The zoo model `name` with this head (the architecture's own class count without --num-classes).
    func spec(named name: String) throws -> ModelSpec {
        try ModelZoo.spec(named: name, numClasses: numClasses)
    }
}

extension ModelSpec {
    /// `normalization(forWeights:)`, with a warning on stderr when the manifest beside the weights gives no
    /// mean/std and this model's default is used instead (printed with --quiet too: the numbers depend on it).
    func normalizationWarning(forWeights url: URL) throws -> (normalization: Normalization, source: String) {
        let (norm, source) = try normalization(forWeights: url)
        if source == normalizationSource {
            let manifest = Self.manifestURL(forWeights: url).path
            let why = FileManager.default.fileExists(atPath: manifest) ? "\(manifest) has no input.mean/input.std"
                                                                         : "no manifest \(manifest)"
            warn("\(why): normalising \(url.lastPathComponent) with the \(normalizationSource) = mean \(norm.mean) std \(norm.std); "
                 + "if the weights were trained with other statistics, write them there (datasets/README.md)")
        }
        return (norm, source)
    }

    /// Split `split` of `data` for this model: refused when its images do not have the model's input shape
    /// or its labels go beyond the classifier head.
    func openSplit(_ split: String, of data: String, normalization: Normalization) throws -> ClassificationSource {
        let source = try ClassificationSource.open(dataset: dataset, directory: URL(fileURLWithPath: data), split: split,
                                                   normalization: normalization)
        guard source.imageShape == inputShape else {
            throw ValidationError("\(name) expects images \(inputShape), split \"\(split)\" has \(source.imageShape)")
        }
        try checkHead(data: data, split: split)
        return source
    }

    /// Refuses a split with more classes than the head has outputs (its labels would index past the logits),
    /// naming --num-classes. Splits of unknown layout are left to the reader, which reports them.
    func checkHead(data: String, split: String) throws {
        guard let classes = try Self.classCount(data: URL(fileURLWithPath: data), split: split, dataset: dataset),
              classes > numClasses else { return }
        throw ValidationError("--num-classes: split \"\(split)\" of \(data) has \(classes) classes, the \(name) head has "
                              + "\(numClasses) outputs (give --num-classes \(classes) for weights with such a head)")
    }

    /// Classes of split `split` of `data`: the class list of `dqss prepare` shards (in `<data>/<split>` or
    /// `<data>`), 10 for CIFAR-10 records, nil when neither is there.
    static func classCount(data: URL, split: String, dataset: String) throws -> Int? {
        for dir in [data.appendingPathComponent(split), data] where ShardedImageDataset.isShardDirectory(dir) {
            return try ShardedImageDataset(directory: dir).classes.count
        }
        return dataset == "cifar10" ? 10 : nil
    }
}

/// A zoo classifier with pretrained weights, loaded strictly, and its normalisation.
struct LoadedClassifier {
    let spec: ModelSpec
    let weights: URL
    let normalization: Normalization
    let normalizationSource: String

    /// The model of --model/--num-classes and the normalisation of --weights; nothing is loaded yet (so that
    /// data errors are reported before a possibly large weights file is read).
    init(_ network: NetworkOptions, head: HeadOptions) throws {
        spec = try head.spec(named: network.model)
        weights = network.weightsURL
        (normalization, normalizationSource) = try spec.normalizationWarning(forWeights: weights)
    }

    /// Split `split` of `data`, checked against the model (ModelSpec.openSplit).
    func open(_ split: String, of data: DataOptions) throws -> ClassificationSource {
        try spec.openSplit(split, of: data.data, normalization: normalization)
    }

    /// The network with the weights: a file that does not match the model exactly (every tensor with its
    /// shape, the head's included) is refused before anything runs, naming the tensors.
    func load() throws -> any UnaryLayer {
        try spec.load(weights: weights)
    }

    /// `normalization` as the --json reports print it.
    var normalizationReport: NormalizationReport {
        NormalizationReport(mean: normalization.mean, std: normalization.std, source: normalizationSource)
    }
}

/// The --json output of `dqss eval`, and of every `dqss ptq` result, which adds the calibration keys (the
/// optional ones: absent from `dqss eval`'s output; the bit widths absent from ptq's FP32 row too).
/// Printed with snake_case keys (`printJSON(_:snakeCase:)`).
struct ClassificationReport: Encodable {
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
    /// The OpenBLAS kernel family that ran (OPENBLAS_CORETYPE or the CPU): quantized top-1 can differ by a
    /// few images between kernel families (docs/results.md, "Reproducing the figures on another machine").
    var openblasCore = OpenBLASCore.name
    /// The convolution backend that ran ("onednn" or "im2col"; DQSS_CONV_BACKEND), beside the kernel family.
    var convBackend: String? = ConvBackend.processDefault.rawValue
    var batch: Int
    var normalization: NormalizationReport
    /// `dqss ptq`: "maxabs", "kl", "easyquant", "admm" (with "+w:<method>" under --weight-method), or "fp32".
    var method: String?
    var weightBits: Int?
    var activationBits: Int?
    var signedActivations: Bool?
    /// "tensor" or "channel" (`--weight-granularity`).
    var weightGranularity: String?
    var calibrationImages: Int?
    var calibrationSplit: String?
    var seed: UInt64?
    /// Statistics passes plus this method's threshold computation.
    var calibrationSeconds: Double?

    init(model: String, weights: String, data: String, split: String, result: ClassifierResult, batch: Int,
         normalization: NormalizationReport) {
        (self.model, self.weights, self.data, self.split, self.batch) = (model, weights, data, split, batch)
        (correct, total, top1, seconds) = (result.correct, result.total, result.top1, result.seconds)
        imagesPerSecond = Double(result.total) / max(result.seconds, 1e-9)
        threads = Threads.count
        self.normalization = normalization
    }

}

/// The "normalization" object of the --json reports of `dqss eval` and `dqss ptq`.
struct NormalizationReport: Encodable {
    var mean: [Float]
    var std: [Float]
    var source: String
}

/// Top-1 of `network` on the first `total` images of `source`, with the progress line of `dqss eval` on
/// stderr ("<label>: done/total images, N images/s") unless `quiet`.
func evaluateWithProgress(_ network: any UnaryLayer, source: ClassificationSource, total: Int, batch: Int,
                          label: String, quiet: Bool) throws -> ClassifierResult {
    let result = try evaluateTop1(network, total: total, batchSize: batch, batch: source.batch,
                                  progress: quiet ? nil : { done, seconds in
        StandardErrorProgress.write("\r\(label): \(done)/\(total) images, \(Int(Double(done) / max(seconds, 1e-9))) images/s")
    })
    if !quiet { StandardErrorProgress.write("\n") }
    return result
}
