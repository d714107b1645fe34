// VGG: torchvision's VGG-16 (configuration "D", Simonyan & Zisserman 2015), with or without BatchNorm.
//
//   features:   [conv3x3(pad 1, bias) (-> BN) -> ReLU] per number, maxpool 2x2/2 per "M" in
//               64,64,M,128,128,M,256,256,256,M,512,512,512,M,512,512,512,M
//   avgpool:    torchvision's AdaptiveAvgPool2d((7, 7)); the identity for 224x224 inputs (features end
//               at 7x7), which is the only input size this port accepts.
//   classifier: Linear(25088, 4096) ReLU Dropout Linear(4096, 4096) ReLU Dropout Linear(4096, classes)
//
// Names: features.{i}.weight/bias (BN at i+1 with batchNorm), classifier.{0,3,6}.*. Parameter counts:
// vgg16 138,357,544; vgg16_bn 138,365,992.

import DQSSTensor
import DQSSLayers

public final class VGG: SequentialModel {
    /// Configuration D; 0 marks a max-pool.
    public static let configD = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]

    public let body: Sequential
    public let batchNorm: Bool
    public var isTraining = false

    public init(config: [Int] = VGG.configD, batchNorm: Bool, numClasses: Int = 1000, dropout: Float = 0.5,
                rng: inout RNG) {
        self.batchNorm = batchNorm
        var features: [any UnaryLayer] = []
        var inChannels = 3
        for v in config {
            if v == 0 {
                features.append(MaxPool2d(kernelSize: 2, stride: 2, padding: 0))
                continue
            }
            features.append(Conv2d(inChannels, v, kernelSize: 3, stride: 1, padding: 1, bias: true, rng: &rng))
            if batchNorm { features.append(BatchNorm2d(v)) }
            features.append(ReLU())
            inChannels = v
        }
        let classifier = Sequential([
            Linear(512 * 7 * 7, 4096, rng: &rng), ReLU(), Dropout(p: dropout, seed: 1),
            Linear(4096, 4096, rng: &rng), ReLU(), Dropout(p: dropout, seed: 2),
            Linear(4096, numClasses, rng: &rng),
        ])
        body = Sequential(named: [("features", Sequential(features)), ("flatten", Flatten()),
                                  ("classifier", classifier)])
    }
}
