// TinyConvNet: a small classifier for the generated "shapes" data (SyntheticDataset) and the demo.
// It exercises the layer kinds the quantization search cares about, including a depthwise conv:
//   conv1 3×3 (3→16) · bn1 · relu1
//   conv2 3×3 depthwise stride 2 (16→16, groups 16) · bn2 · relu2
//   conv3 1×1 pointwise (16→32) · bn3 · relu3
//   pool 2×2 max · avgpool (global) · flatten · fc (32→classes)
// Parameter names are PyTorch-like ("conv1.weight", "bn1.running_mean", "fc.bias").

import DQSSTensor
import DQSSLayers

public final class TinyConvNet: SequentialModel {
    public let body: Sequential
    public var isTraining = false

    public init(inChannels: Int = 3, classes: Int, width: Int = 16, rng: inout RNG) {
        let w = width
        body = Sequential(named: [
            ("conv1", Conv2d(inChannels, w, kernelSize: 3, padding: 1, bias: false, rng: &rng)),
            ("bn1", BatchNorm2d(w)),
            ("relu1", ReLU()),
            ("conv2", Conv2d(w, w, kernelSize: 3, stride: 2, padding: 1, groups: w, bias: false, rng: &rng)),
            ("bn2", BatchNorm2d(w)),
            ("relu2", ReLU()),
            ("conv3", Conv2d(w, 2 * w, kernelSize: 1, bias: false, rng: &rng)),
            ("bn3", BatchNorm2d(2 * w)),
            ("relu3", ReLU()),
            ("pool", MaxPool2d(kernelSize: 2)),
            ("avgpool", GlobalAvgPool2d()),
            ("flatten", Flatten()),
            ("fc", Linear(2 * w, classes, rng: &rng)),
        ])
        // The first conv sees data: no input gradient needed.
        (body.layers[0].layer as? Conv2d)?.needsInputGradient = false
    }
}
