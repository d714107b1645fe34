// IMDB: IMDN's information multi-distillation block (`IMDModule` in IMDN's block.py), 64 features,
// distillation rate 1/4 (d = 16 distilled, r = 48 remaining channels):
//
//   o1 = LReLU(c1(x))           64 -> 64, 3x3;  (d1, r1) = split(o1, [16, 48])
//   o2 = LReLU(c2(r1))          48 -> 64, 3x3;  (d2, r2) = split(o2, [16, 48])
//   o3 = LReLU(c3(r2))          48 -> 64, 3x3;  (d3, r3) = split(o3, [16, 48])
//   o4 = c4(r3)                 48 -> 16, 3x3 (no activation)
//   out = c5(cca(concat[d1, d2, d3, o4])) + x       c5: 64 -> 64, 1x1
//
// LeakyReLU slope 0.05; every conv has a bias. Parameter names c1..c5, cca.conv_du.{0,2}.
// Backward follows the graph in reverse; each split joins its distilled and remaining gradients.

import DQSSTensor
import DQSSLayers

public final class IMDB: UnaryLayer {
    public let c1: Conv2d, c2: Conv2d, c3: Conv2d, c4: Conv2d, c5: Conv2d
    public let cca: ContrastChannelAttention
    public var isTraining = false

    private let act1 = LeakyReLU(negativeSlope: 0.05)
    private let act2 = LeakyReLU(negativeSlope: 0.05)
    private let act3 = LeakyReLU(negativeSlope: 0.05)
    private let split1: ChannelSplit, split2: ChannelSplit, split3: ChannelSplit
    private let concat = Concat()
    private let residual = Add()
    private let gradInput = Tensor(shape: [0])

    public init(features: Int = 64, distillationRate: Double = 0.25, rng: inout RNG) {
        let d = Int(Double(features) * distillationRate), r = features - d
        c1 = Conv2d(features, features, kernelSize: 3, padding: 1, rng: &rng)
        c2 = Conv2d(r, features, kernelSize: 3, padding: 1, rng: &rng)
        c3 = Conv2d(r, features, kernelSize: 3, padding: 1, rng: &rng)
        c4 = Conv2d(r, d, kernelSize: 3, padding: 1, rng: &rng)
        c5 = Conv2d(d * 4, features, kernelSize: 1, rng: &rng)
        cca = ContrastChannelAttention(channels: d * 4, rng: &rng)
        split1 = ChannelSplit(at: d)
        split2 = ChannelSplit(at: d)
        split3 = ChannelSplit(at: d)
    }

    public var children: [(name: String, layer: any Layer)] {
        [("c1", c1), ("c2", c2), ("c3", c3), ("c4", c4), ("c5", c5), ("cca", cca)]
    }

    public func forward(_ x: Tensor) -> Tensor {
        let (d1, r1) = split1.forward(act1.forward(c1.forward(x)))
        let (d2, r2) = split2.forward(act2.forward(c2.forward(r1)))
        let (d3, r3) = split3.forward(act3.forward(c3.forward(r2)))
        let o4 = c4.forward(r3)
        return residual.forward(c5.forward(cca.forward(concat.forward([d1, d2, d3, o4]))), x)
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let (gFused, gSkip) = residual.backward(gradOutput)
        let g = concat.backward(cca.backward(c5.backward(gFused)))
        let gr3 = c4.backward(g[3])
        let gr2 = c3.backward(act3.backward(split3.backward(g[2], gr3)))
        let gr1 = c2.backward(act2.backward(split2.backward(g[1], gr2)))
        let gx = c1.backward(act1.backward(split1.backward(g[0], gr1)))
        gradInput.assign(gx)
        gradInput.add(gSkip)
        return gradInput
    }
}
