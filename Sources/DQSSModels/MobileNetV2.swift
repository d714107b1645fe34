// MobileNetV2: torchvision's ImageNet MobileNetV2 (width 1.0; Sandler et al. 2018).
//
//   features.0  conv-BN-ReLU6 3x3/2 3->32
//   features.1..17  InvertedResidual, (t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2)
//                   (6,96,3,1) (6,160,3,2) (6,320,1,1)   (stride s on the first of each group of n)
//   features.18 conv-BN-ReLU6 1x1 320->1280
//   global average pool -> classifier.0 Dropout(0.2) -> classifier.1 Linear(1280, classes)
//
// 3,504,872 parameters for 1000 classes.

import DQSSTensor
import DQSSLayers

public final class MobileNetV2: SequentialModel {
    /// (expansion t, output channels c, repeats n, first stride s).
    public static let settings: [(t: Int, c: Int, n: Int, s: Int)] = [
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ]

    public let body: Sequential
    public var isTraining = false

    public init(numClasses: Int = 1000, dropout: Float = 0.2, rng: inout RNG) {
        var features: [any UnaryLayer] = [convBNActivation(3, 32, kernelSize: 3, stride: 2, rng: &rng)]
        var inChannels = 32
        for s in Self.settings {
            for i in 0..<s.n {
                features.append(InvertedResidual(inChannels: inChannels, outChannels: s.c, stride: i == 0 ? s.s : 1,
                                                 expandRatio: s.t, rng: &rng))
                inChannels = s.c
            }
        }
        features.append(convBNActivation(inChannels, 1280, kernelSize: 1, rng: &rng))
        body = Sequential(named: [
            ("features", Sequential(features)),
            ("avgpool", GlobalAvgPool2d()),
            ("flatten", Flatten()),
            ("classifier", Sequential([Dropout(p: dropout, seed: 1), Linear(1280, numClasses, rng: &rng)])),
        ])
    }
}
