// IMDN: the information multi-distillation network (Hui et al., ACM MM 2019; Zheng222/IMDN
// `architecture.py`), x4, 64 features, 6 IMDBs:
//
//   f   = fea_conv(x)                                   3 -> 64, 3x3
//   B_k = IMDB_k(B_{k-1}), B_0 = f,  k = 1..6
//   b   = LReLU_0.05(c.0(concat[B_1..B_6]))            384 -> 64, 1x1
//   l   = LR_conv(b) + f                                64 -> 64, 3x3 (long skip)
//   y   = PixelShuffle4(upsampler.0(l))                 64 -> 3·16, 3x3
//
// Parameter names fea_conv, IMDB1..IMDB6, c.0, LR_conv, upsampler.0 (the checkpoint adds "module.").
// Input: RGB in [0, 1], no normalisation. Backward: every B_k feeds both the next block and the concat,
// so its gradient is the concat slice plus the next block's input gradient.

import DQSSTensor
import DQSSLayers

public final class IMDN: UnaryLayer {
    public let upscale: Int
    public let feaConv: Conv2d
    public let blocks: [IMDB]
    public let c: Sequential
    public let lrConv: Conv2d
    public let upsampler: Sequential
    public var isTraining = false

    private let concat = Concat()
    private let skip = Add()
    private let blockGradient = Tensor(shape: [0])

    public init(features: Int = 64, blockCount: Int = 6, upscale: Int = 4, rng: inout RNG) {
        self.upscale = upscale
        feaConv = Conv2d(3, features, kernelSize: 3, padding: 1, rng: &rng)
        blocks = (0..<blockCount).map { _ in IMDB(features: features, rng: &rng) }
        c = Sequential([Conv2d(features * blockCount, features, kernelSize: 1, rng: &rng), LeakyReLU(negativeSlope: 0.05)])
        lrConv = Conv2d(features, features, kernelSize: 3, padding: 1, rng: &rng)
        upsampler = Sequential([Conv2d(features, 3 * upscale * upscale, kernelSize: 3, padding: 1, rng: &rng),
                                PixelShuffle(upscaleFactor: upscale)])
    }

    public var children: [(name: String, layer: any Layer)] {
        var ch: [(name: String, layer: any Layer)] = [("fea_conv", feaConv)]
        for (i, b) in blocks.enumerated() { ch.append(("IMDB\(i + 1)", b)) }
        ch += [("c", c), ("LR_conv", lrConv), ("upsampler", upsampler)]
        return ch
    }

    public func forward(_ x: Tensor) -> Tensor {
        let f = feaConv.forward(x)
        var outs: [Tensor] = []
        var h = f
        for b in blocks {
            h = b.forward(h)
            outs.append(h)
        }
        let l = skip.forward(lrConv.forward(c.forward(concat.forward(outs))), f)
        return upsampler.forward(l)
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let (gBranch, gSkip) = skip.backward(upsampler.backward(gradOutput))
        let gOuts = concat.backward(c.backward(lrConv.backward(gBranch)))
        // Walk the chain backwards: dL/dB_k = concat slice k + dL/d(input of block k+1).
        blockGradient.assign(gOuts[blocks.count - 1])
        for k in stride(from: blocks.count - 1, through: 0, by: -1) {
            let gIn = blocks[k].backward(blockGradient)
            blockGradient.assign(gIn)
            if k > 0 { blockGradient.add(gOuts[k - 1]) }
        }
        blockGradient.add(gSkip)
        return feaConv.backward(blockGradient)
    }
}
