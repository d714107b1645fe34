// ShuffleNetV2: torchvision's ShuffleNetV2 (Ma et al. 2018) and the CIFAR variant of
// chenyaofo/pytorch-cifar-models (stem stride 1, no max-pool).
//
//   conv1 = conv3x3 (stride 2 ImageNet / 1 CIFAR) 3->c0, BN, ReLU   ("conv1.0", "conv1.1")
//   [maxpool 3x3/2 pad 1, ImageNet only]
//   stage2..4: repeats [4, 8, 4] ShuffleUnits, the first with stride 2
//   conv5 = conv1x1 -> c4, BN, ReLU ("conv5.0", "conv5.1") -> global average pool -> fc
//
// Channels: x1.0 ImageNet [24, 116, 232, 464, 1024] (2,278,604 parameters with 1000 classes);
// x0.5 [24, 48, 96, 192, 1024] (CIFAR-10: 352,042 parameters).

import DQSSTensor
import DQSSLayers

public final class ShuffleNetV2: SequentialModel {
    public static let repeats = [4, 8, 4]
    public static let channelsX0_5 = [24, 48, 96, 192, 1024]
    public static let channelsX1_0 = [24, 116, 232, 464, 1024]

    public let body: Sequential
    public var isTraining = false

    /// - Parameters:
    ///   - stageOutChannels: [stem, stage2, stage3, stage4, conv5] widths.
    ///   - cifarStem: stem stride 1 and no max-pool (32x32 inputs), as chenyaofo's CIFAR models.
    public init(stageOutChannels: [Int], numClasses: Int, cifarStem: Bool, rng: inout RNG) {
        precondition(stageOutChannels.count == 5, "ShuffleNetV2 needs 5 widths")
        let c0 = stageOutChannels[0]
        var layers: [(String, any UnaryLayer)] = [
            ("conv1", convBNActivation(3, c0, kernelSize: 3, stride: cifarStem ? 1 : 2, activation: .relu, rng: &rng)),
        ]
        if !cifarStem { layers.append(("maxpool", MaxPool2d(kernelSize: 3, stride: 2, padding: 1))) }
        var inChannels = c0
        for (i, r) in Self.repeats.enumerated() {
            let out = stageOutChannels[i + 1]
            var units: [any UnaryLayer] = []
            for j in 0..<r {
                units.append(ShuffleUnit(inChannels: inChannels, outChannels: out, stride: j == 0 ? 2 : 1, rng: &rng))
                inChannels = out
            }
            layers.append(("stage\(i + 2)", Sequential(units)))
        }
        layers.append(("conv5", convBNActivation(inChannels, stageOutChannels[4], kernelSize: 1, activation: .relu,
                                                  rng: &rng)))
        layers.append(("avgpool", GlobalAvgPool2d()))
        layers.append(("flatten", Flatten()))
        layers.append(("fc", Linear(stageOutChannels[4], numClasses, rng: &rng)))
        body = Sequential(named: layers)
    }

    /// torchvision `shufflenet_v2_x1_0` (ImageNet).
    public static func x1_0(numClasses: Int = 1000, rng: inout RNG) -> ShuffleNetV2 {
        ShuffleNetV2(stageOutChannels: channelsX1_0, numClasses: numClasses, cifarStem: false, rng: &rng)
    }

    /// chenyaofo `cifar10_shufflenetv2_x0_5` (CIFAR stem).
    public static func cifarX0_5(numClasses: Int = 10, rng: inout RNG) -> ShuffleNetV2 {
        ShuffleNetV2(stageOutChannels: channelsX0_5, numClasses: numClasses, cifarStem: true, rng: &rng)
    }
}
