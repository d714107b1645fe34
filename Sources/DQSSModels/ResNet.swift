// ResNet: torchvision's ImageNet ResNets (He et al. 2016; torchvision v1.5 layout: stride on the 3x3 of
// the bottleneck).
//
//   conv1 7x7/2 3->64 -> bn1 -> ReLU -> maxpool 3x3/2 pad 1 -> layer1..layer4 (64,128,256,512 planes,
//   first block of layer2..4 stride 2) -> global average pool -> fc (512 * expansion -> classes)
//
// resnet18 = BasicBlock x [2,2,2,2] (11,689,512 parameters), resnet50 = Bottleneck x [3,4,6,3]
// (25,557,032). Names: conv1.weight, bn1.*, layer1.0.conv1.weight, layer2.0.downsample.0.weight, fc.*.

import DQSSTensor
import DQSSLayers

public final class ResNet: SequentialModel {
    public enum Block: Sendable { case basic, bottleneck }

    public let body: Sequential
    public var isTraining = false

    public init(block: Block, layers counts: [Int], numClasses: Int = 1000, rng: inout RNG) {
        precondition(counts.count == 4, "ResNet needs 4 stage sizes")
        let expansion = block == .basic ? BasicBlock.expansion : Bottleneck.expansion
        var layers: [(String, any UnaryLayer)] = [
            ("conv1", Conv2d(3, 64, kernelSize: 7, stride: 2, padding: 3, bias: false, rng: &rng)),
            ("bn1", BatchNorm2d(64)),
            ("relu", ReLU()),
            ("maxpool", MaxPool2d(kernelSize: 3, stride: 2, padding: 1)),
        ]
        var inPlanes = 64
        for (stage, planes) in [64, 128, 256, 512].enumerated() {
            var blocks: [any UnaryLayer] = []
            for i in 0..<counts[stage] {
                let stride = (stage > 0 && i == 0) ? 2 : 1
                switch block {
                case .basic: blocks.append(BasicBlock(inPlanes: inPlanes, planes: planes, stride: stride, rng: &rng))
                case .bottleneck: blocks.append(Bottleneck(inPlanes: inPlanes, planes: planes, stride: stride, rng: &rng))
                }
                inPlanes = planes * expansion
            }
            layers.append(("layer\(stage + 1)", Sequential(blocks)))
        }
        layers.append(("avgpool", GlobalAvgPool2d()))
        layers.append(("flatten", Flatten()))
        layers.append(("fc", Linear(512 * expansion, numClasses, rng: &rng)))
        body = Sequential(named: layers)
    }

    /// torchvision `resnet18`.
    public static func resnet18(numClasses: Int = 1000, rng: inout RNG) -> ResNet {
        ResNet(block: .basic, layers: [2, 2, 2, 2], numClasses: numClasses, rng: &rng)
    }

    /// torchvision `resnet50`.
    public static func resnet50(numClasses: Int = 1000, rng: inout RNG) -> ResNet {
        ResNet(block: .bottleneck, layers: [3, 4, 6, 3], numClasses: numClasses, rng: &rng)
    }
}
