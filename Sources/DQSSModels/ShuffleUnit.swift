// ShuffleUnit: the ShuffleNetV2 building block (Ma et al. 2018), torchvision's `InvertedResidual`.
//
// stride 1 (inp == oup, bf = oup/2):  (x1, x2) = split(x, bf);  out = shuffle(concat[x1, branch2(x2)])
// stride 2 (bf = oup/2):              out = shuffle(concat[branch1(x), branch2(x)])
//   branch1 = dw3x3(stride s) -> BN -> 1x1 (inp -> bf) -> BN -> ReLU                 ("branch1.0".."branch1.4")
//   branch2 = 1x1 -> BN -> ReLU -> dw3x3(stride s) -> BN -> 1x1 -> BN -> ReLU         ("branch2.0".."branch2.7")
//   shuffle = channel shuffle with 2 groups: out[:, 2j + g] = in[:, g*C/2 + j]
// Convolutions have no bias; the depthwise BN has no ReLU. Backward: stride 1 routes the two halves of
// the concat gradient back through the split; stride 2 sums the gradients of x from both branches.

import DQSSTensor
import DQSSLayers

public final class ShuffleUnit: UnaryLayer {
    public let stride: Int
    /// Present only for stride 2.
    public let branch1: Sequential?
    public let branch2: Sequential
    public var isTraining = false

    private let split: ChannelSplit?
    private let concat = Concat()
    private let shuffle = ChannelShuffle(groups: 2)
    private let gradInput = Tensor(shape: [0])

    public init(inChannels: Int, outChannels: Int, stride: Int, rng: inout RNG) {
        precondition(stride == 1 || stride == 2, "ShuffleUnit stride must be 1 or 2")
        precondition(outChannels % 2 == 0, "ShuffleUnit needs an even channel count")
        let bf = outChannels / 2
        precondition(stride != 1 || inChannels == bf * 2, "stride-1 ShuffleUnit needs inChannels == outChannels")
        self.stride = stride
        if stride > 1 {
            branch1 = Sequential([
                Conv2d(inChannels, inChannels, kernelSize: 3, stride: stride, padding: 1, groups: inChannels,
                       bias: false, rng: &rng),
                BatchNorm2d(inChannels),
                Conv2d(inChannels, bf, kernelSize: 1, bias: false, rng: &rng),
                BatchNorm2d(bf),
                ReLU(),
            ])
            split = nil
        } else {
            branch1 = nil
            split = ChannelSplit(at: bf)
        }
        branch2 = Sequential([
            Conv2d(stride > 1 ? inChannels : bf, bf, kernelSize: 1, bias: false, rng: &rng),
            BatchNorm2d(bf),
            ReLU(),
            Conv2d(bf, bf, kernelSize: 3, stride: stride, padding: 1, groups: bf, bias: false, rng: &rng),
            BatchNorm2d(bf),
            Conv2d(bf, bf, kernelSize: 1, bias: false, rng: &rng),
            BatchNorm2d(bf),
            ReLU(),
        ])
    }

    public var children: [(name: String, layer: any Layer)] {
        var c: [(name: String, layer: any Layer)] = []
        if let branch1 { c.append(("branch1", branch1)) }
        c.append(("branch2", branch2))
        return c
    }

    public func forward(_ x: Tensor) -> Tensor {
        if let split {
            let (x1, x2) = split.forward(x)
            return shuffle.forward(concat.forward([x1, branch2.forward(x2)]))
        }
        let a = branch1!.forward(x)
        return shuffle.forward(concat.forward([a, branch2.forward(x)]))
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let g = concat.backward(shuffle.backward(gradOutput))
        if let split {
            return split.backward(g[0], branch2.backward(g[1]))
        }
        gradInput.assign(branch1!.backward(g[0]))
        gradInput.add(branch2.backward(g[1]))
        return gradInput
    }
}
