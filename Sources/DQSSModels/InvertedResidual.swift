// InvertedResidual: torchvision's MobileNetV2 block (Sandler et al. 2018).
//
//   conv = [1x1 expand conv-BN-ReLU6 (only when t != 1)] -> 3x3 depthwise conv-BN-ReLU6 (stride s)
//          -> 1x1 linear projection conv -> BN          (hidden = round(inp * t))
//   out  = x + conv(x)   when s = 1 and inp == oup (residual), else conv(x)
//
// All layers live in one Sequential child named "conv", so the names are torchvision's: with t != 1
// "conv.0.0.weight" (expand), "conv.1.0.weight" (depthwise), "conv.2.weight" (project), "conv.3.*" (BN);
// with t = 1 "conv.0.0.weight" (depthwise), "conv.1.weight", "conv.2.*". Backward adds the identity
// gradient to the branch gradient when the residual is used.

import DQSSTensor
import DQSSLayers

public final class InvertedResidual: UnaryLayer {
    public let conv: Sequential
    /// True when out = x + conv(x).
    public let usesResidual: Bool
    public var isTraining = false

    private let add = Add()
    private let gradInput = Tensor(shape: [0])

    public init(inChannels: Int, outChannels: Int, stride: Int, expandRatio: Int, rng: inout RNG) {
        precondition(stride == 1 || stride == 2, "InvertedResidual stride must be 1 or 2")
        let hidden = inChannels * expandRatio
        usesResidual = stride == 1 && inChannels == outChannels
        var layers: [any UnaryLayer] = []
        if expandRatio != 1 {
            layers.append(convBNActivation(inChannels, hidden, kernelSize: 1, rng: &rng))
        }
        layers.append(convBNActivation(hidden, hidden, kernelSize: 3, stride: stride, groups: hidden, rng: &rng))
        layers.append(Conv2d(hidden, outChannels, kernelSize: 1, bias: false, rng: &rng))
        layers.append(BatchNorm2d(outChannels))
        conv = Sequential(layers)
    }

    public var children: [(name: String, layer: any Layer)] { [("conv", conv)] }

    public func forward(_ x: Tensor) -> Tensor {
        let y = conv.forward(x)
        return usesResidual ? add.forward(x, y) : y
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard usesResidual else { return conv.backward(gradOutput) }
        let (gIdentity, gBranch) = add.backward(gradOutput)
        gradInput.assign(conv.backward(gBranch))
        gradInput.add(gIdentity)
        return gradInput
    }
}
