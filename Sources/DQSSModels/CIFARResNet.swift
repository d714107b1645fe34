// CIFARResNet: ResNet-20/32/44/56/110 for CIFAR (He et al. 2016, §4.2) with option-A shortcuts, as in
// akamaster/pytorch_resnet_cifar10 (whose checkpoints carry an extra "module." prefix from DataParallel;
// the loader strips it).
//
//   conv1 3x3 3->16 (no bias) -> bn1 -> ReLU -> layer1 (n blocks, 16 ch, 32x32)
//   -> layer2 (n blocks, 32 ch, first stride 2) -> layer3 (n blocks, 64 ch, first stride 2)
//   -> global average pool -> linear 64 -> classes,       depth = 6n + 2
//
// Parameter names: conv1.weight, bn1.*, layer{1,2,3}.{i}.{conv1,bn1,conv2,bn2}.*, linear.{weight,bias}.

import DQSSTensor
import DQSSLayers

public final class CIFARResNet: SequentialModel {
    public let depth: Int
    public let body: Sequential
    public var isTraining = false

    /// - Parameter depth: 6n + 2 (20, 32, 44, 56, 110, ...).
    public init(depth: Int, numClasses: Int = 10, rng: inout RNG) {
        precondition(depth >= 8 && (depth - 2) % 6 == 0, "CIFAR ResNet depth must be 6n + 2, got \(depth)")
        self.depth = depth
        let n = (depth - 2) / 6
        var layers: [(String, any UnaryLayer)] = [
            ("conv1", Conv2d(3, 16, kernelSize: 3, stride: 1, padding: 1, bias: false, rng: &rng)),
            ("bn1", BatchNorm2d(16)),
            ("relu", ReLU()),
        ]
        var inPlanes = 16
        for (stage, planes) in [16, 32, 64].enumerated() {
            var blocks: [any UnaryLayer] = []
            for i in 0..<n {
                let stride = (stage > 0 && i == 0) ? 2 : 1
                blocks.append(CIFARBasicBlock(inPlanes: inPlanes, planes: planes, stride: stride, rng: &rng))
                inPlanes = planes
            }
            layers.append(("layer\(stage + 1)", Sequential(blocks)))
        }
        layers.append(("avgpool", GlobalAvgPool2d()))
        layers.append(("flatten", Flatten()))
        layers.append(("linear", Linear(64, numClasses, rng: &rng)))
        body = Sequential(named: layers)
    }
}
