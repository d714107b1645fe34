// ContrastChannelAttention: IMDN's CCA layer (Hui et al. 2019, `CCALayer` in IMDN's block.py):
//
//   s   = Sigmoid(conv_du.2(ReLU(conv_du.0(mean_hw(x) + std_hw(x)))))     64 -> 4 -> 64, 1x1, with bias
//   out = x ⊙ s                                                           (per channel)
//
// Parameter names conv_du.0.*, conv_du.2.* (nn.Sequential: conv, ReLU, conv, Sigmoid). Backward: x feeds
// the product directly and the statistics, so dL/dx = s ⊙ dy + ContrastPool2d'(dL/ds).

import DQSSTensor
import DQSSLayers

public final class ContrastChannelAttention: UnaryLayer {
    public let convDu: Sequential
    public var isTraining = false

    private let pool = ContrastPool2d()
    private let multiply = ChannelScale()
    private let gradInput = Tensor(shape: [0])

    public init(channels: Int, reduction: Int = 16, rng: inout RNG) {
        convDu = Sequential([
            Conv2d(channels, channels / reduction, kernelSize: 1, rng: &rng),
            ReLU(),
            Conv2d(channels / reduction, channels, kernelSize: 1, rng: &rng),
            Sigmoid(),
        ])
    }

    public var children: [(name: String, layer: any Layer)] { [("conv_du", convDu)] }

    public func forward(_ x: Tensor) -> Tensor {
        multiply.forward(x, convDu.forward(pool.forward(x)))
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let (gx, gs) = multiply.backward(gradOutput)
        gradInput.assign(gx)
        gradInput.add(pool.backward(convDu.backward(gs)))
        return gradInput
    }
}
