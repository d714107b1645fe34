// convBNActivation: torchvision's `Conv2dNormActivation` (conv, BatchNorm, activation) as a Sequential,
// so its parameters are named "0.weight" (conv, no bias) and "1.weight"/"1.bias"/"1.running_*" (BN),
// exactly like torchvision's MobileNetV2 "features.0.0.weight", "features.0.1.running_mean".

import DQSSTensor
import DQSSLayers

/// The activation closing a conv-BN unit.
public enum Activation: Sendable {
    case relu, relu6, none

    func makeLayer() -> (any UnaryLayer)? {
        switch self {
        case .relu: return ReLU()
        case .relu6: return ReLU6()
        case .none: return nil
        }
    }
}

/// Conv2d(kernelSize, stride, padding (k-1)/2, groups, no bias) -> BatchNorm2d -> activation.
public func convBNActivation(_ inChannels: Int, _ outChannels: Int, kernelSize: Int = 3, stride: Int = 1,
                             groups: Int = 1, activation: Activation = .relu6, rng: inout RNG) -> Sequential {
    var layers: [any UnaryLayer] = [
        Conv2d(inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: (kernelSize - 1) / 2,
               groups: groups, bias: false, rng: &rng),
        BatchNorm2d(outChannels),
    ]
    if let a = activation.makeLayer() { layers.append(a) }
    return Sequential(layers)
}
