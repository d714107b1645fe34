// ModelZoo: the registry behind `--model NAME`: how to build each network, what it eats (input shape,
// normalisation) and how its checkpoints are named.
//
// Normalisation defaults are the ones each weight source trained with: akamaster's CIFAR ResNets use
// ImageNet statistics (trainer.py), chenyaofo's CIFAR models use CIFAR statistics (training log), the
// torchvision ImageNet models ImageNet statistics. A JSON manifest next to the weights overrides them
// (see `ModelSpec.normalization(forWeights:)`).

import DQSSTensor
import DQSSLayers
import DQSSData

/// One entry of the zoo.
public struct ModelSpec: Sendable {
    /// Command-line name ("resnet20").
    public let name: String
    /// Dataset the architecture is meant for ("cifar10", "imagenet").
    public let dataset: String
    /// [C, H, W] of one input image.
    public let inputShape: [Int]
    public let numClasses: Int
    /// Default normalisation when no manifest gives one (DQSSData's x = (byte/255 - mean) / std).
    public let normalization: Normalization
    /// Where the default comes from, printed by commands.
    public let normalizationSource: String
    /// Prefix removed from checkpoint names that carry it ("module." from nn.DataParallel).
    public let weightPrefix: String?
    /// Builds the network with a classifier head of the given number of classes.
    private let build: @Sendable (_ numClasses: Int, inout RNG) -> any UnaryLayer
    /// Whether `build` honours another class count (`withClasses`).
    private let resizableHead: Bool

    /// A model whose head always has `numClasses` outputs.
    public init(name: String, dataset: String, inputShape: [Int], numClasses: Int, normalization: Normalization,
                normalizationSource: String, weightPrefix: String? = "module.",
                build: @escaping @Sendable (inout RNG) -> any UnaryLayer) {
        self.init(name: name, dataset: dataset, inputShape: inputShape, numClasses: numClasses,
                  normalization: normalization, normalizationSource: normalizationSource, weightPrefix: weightPrefix,
                  resizableHead: false, build: { _, rng in build(&rng) })
    }

    /// A model whose classifier head can have any number of classes (`numClasses` by default; `withClasses`).
    public init(name: String, dataset: String, inputShape: [Int], numClasses: Int, normalization: Normalization,
                normalizationSource: String, weightPrefix: String? = "module.",
                classifier build: @escaping @Sendable (_ numClasses: Int, inout RNG) -> any UnaryLayer) {
        self.init(name: name, dataset: dataset, inputShape: inputShape, numClasses: numClasses,
                  normalization: normalization, normalizationSource: normalizationSource, weightPrefix: weightPrefix,
                  resizableHead: true, build: build)
    }

    private init(name: String, dataset: String, inputShape: [Int], numClasses: Int, normalization: Normalization,
                 normalizationSource: String, weightPrefix: String?, resizableHead: Bool,
                 build: @escaping @Sendable (Int, inout RNG) -> any UnaryLayer) {
        self.name = name
        self.dataset = dataset
        self.inputShape = inputShape
        self.numClasses = numClasses
        self.normalization = normalization
        self.normalizationSource = normalizationSource
        self.weightPrefix = weightPrefix
        self.resizableHead = resizableHead
        self.build = build
    }

    /// This model with a classifier head of `classes` outputs (for weights trained on another label set,
    /// e.g. CIFAR-100 or an ImageNet subset). Throws for a count below 1, or when the model cannot change its head.
    public func withClasses(_ classes: Int) throws -> ModelSpec {
        guard classes >= 1 else { throw ModelError("\(name): a classifier head needs at least 1 class (got \(classes))") }
        if classes == numClasses { return self }
        guard resizableHead else { throw ModelError("\(name): the classifier head has a fixed \(numClasses) classes") }
        return ModelSpec(name: name, dataset: dataset, inputShape: inputShape, numClasses: classes,
                         normalization: normalization, normalizationSource: normalizationSource,
                         weightPrefix: weightPrefix, resizableHead: true, build: build)
    }

    /// A freshly initialised network (PyTorch-style init from `rng`), in evaluation mode.
    public func make(rng: inout RNG) -> any UnaryLayer {
        let model = build(numClasses, &rng)
        model.setTraining(false)
        return model
    }

    public func make(seed: UInt64 = 0) -> any UnaryLayer {
        var rng = RNG(seed: seed)
        return make(rng: &rng)
    }
}

public enum ModelZoo {
    private static func cifarResNet(_ depth: Int) -> ModelSpec {
        ModelSpec(name: "resnet\(depth)", dataset: "cifar10", inputShape: [3, 32, 32], numClasses: 10,
                  normalization: .imageNet,
                  normalizationSource: "default for resnet\(depth) (akamaster: ImageNet mean/std)",
                  classifier: { CIFARResNet(depth: depth, numClasses: $0, rng: &$1) })
    }

    private static func imageNet(_ name: String,
                                 _ build: @escaping @Sendable (_ numClasses: Int, inout RNG) -> any UnaryLayer) -> ModelSpec {
        ModelSpec(name: name, dataset: "imagenet", inputShape: [3, 224, 224], numClasses: 1000,
                  normalization: .imageNet,
                  normalizationSource: "default for \(name) (torchvision: ImageNet mean/std)",
                  classifier: build)
    }

    /// Every registered model, in the order of `dqss eval --help`.
    public static let all: [ModelSpec] = [
        cifarResNet(20), cifarResNet(32), cifarResNet(44), cifarResNet(56),
        ModelSpec(name: "shufflenetv2_x0_5", dataset: "cifar10", inputShape: [3, 32, 32], numClasses: 10,
                  normalization: .cifar10,
                  normalizationSource: "default for shufflenetv2_x0_5 (chenyaofo: CIFAR mean/std)",
                  classifier: { ShuffleNetV2.cifarX0_5(numClasses: $0, rng: &$1) }),
        imageNet("vgg16") { VGG(batchNorm: false, numClasses: $0, rng: &$1) },
        imageNet("vgg16_bn") { VGG(batchNorm: true, numClasses: $0, rng: &$1) },
        imageNet("resnet18") { ResNet.resnet18(numClasses: $0, rng: &$1) },
        imageNet("resnet50") { ResNet.resnet50(numClasses: $0, rng: &$1) },
        imageNet("mobilenet_v2") { MobileNetV2(numClasses: $0, rng: &$1) },
        imageNet("shufflenet_v2_x1_0") { ShuffleNetV2.x1_0(numClasses: $0, rng: &$1) },
    ]

    public static var names: [String] { all.map(\.name) }

    /// The spec called `name`; throws a ModelError listing the known names otherwise. With `numClasses`,
    /// its classifier head has that many outputs instead of the architecture's default (`withClasses`).
    public static func spec(named name: String, numClasses: Int? = nil) throws -> ModelSpec {
        guard let s = all.first(where: { $0.name == name }) else {
            throw ModelError("unknown model \"\(name)\" (known: \(names.joined(separator: ", ")))")
        }
        return try numClasses.map { try s.withClasses($0) } ?? s
    }
}
