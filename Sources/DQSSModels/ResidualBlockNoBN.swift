// ResidualBlockNoBN: BasicSR's residual block without BatchNorm (EDSR, MSRResNet):
//
//   out = x + resScale · conv2(ReLU(conv1(x)))       conv1, conv2: 3x3, stride 1, pad 1, with bias
//
// Parameter names conv1.*, conv2.* (basicsr/archs/arch_util.py). Backward: x feeds the branch and the
// identity, so dL/dx = dL/dout + resScale · (branch gradient).

import DQSSTensor
import DQSSLayers

public final class ResidualBlockNoBN: UnaryLayer {
    public let conv1: Conv2d
    public let conv2: Conv2d
    public let resScale: Float
    public var isTraining = false

    private let relu = ReLU()
    private let output = Tensor(shape: [0])
    private let scaledGradient = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    public init(features: Int = 64, resScale: Float = 1, rng: inout RNG) {
        conv1 = Conv2d(features, features, kernelSize: 3, padding: 1, rng: &rng)
        conv2 = Conv2d(features, features, kernelSize: 3, padding: 1, rng: &rng)
        self.resScale = resScale
    }

    public var children: [(name: String, layer: any Layer)] { [("conv1", conv1), ("conv2", conv2)] }

    public func forward(_ x: Tensor) -> Tensor {
        let r = conv2.forward(relu.forward(conv1.forward(x)))
        output.assign(x)
        output.add(r, scale: resScale)
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let g: Tensor
        if resScale == 1 {
            g = gradOutput
        } else {
            scaledGradient.assign(gradOutput)
            scaledGradient.scale(by: resScale)
            g = scaledGradient
        }
        let branch = conv1.backward(relu.backward(conv2.backward(g)))
        gradInput.assign(gradOutput)
        gradInput.add(branch)
        return gradInput
    }
}
