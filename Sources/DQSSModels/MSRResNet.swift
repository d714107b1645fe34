// MSRResNet: BasicSR's modified SRResNet (Wang et al., ESRGAN; basicsr/archs/srresnet_arch.py), x4:
//
//   feat = LReLU(conv_first(x))                           3 -> 64, 3x3
//   out  = body(feat)                                     16 ResidualBlockNoBN, no long skip
//   out  = LReLU(PixelShuffle2(upconv1(out)))             64 -> 256, 3x3   (x4: two such stages)
//   out  = LReLU(PixelShuffle2(upconv2(out)))
//   out  = conv_last(LReLU(conv_hr(out))) + bilinear_x4(x)  64 -> 64, 64 -> 3; F.interpolate align_corners=False
//
// LeakyReLU slope 0.1. Parameter names conv_first, body.{i}.conv1/conv2, upconv1, upconv2, conv_hr,
// conv_last (BasicSR checkpoint `params`). 64 features and 16 blocks: 1,517,571 parameters.
// Input: RGB in [0, 1], no normalisation.

import DQSSTensor
import DQSSLayers

public final class MSRResNet: UnaryLayer {
    public let upscale: Int
    public let convFirst: Conv2d
    public let body: Sequential
    public let upconv1: Conv2d
    public let upconv2: Conv2d?
    public let convHR: Conv2d
    public let convLast: Conv2d
    public var isTraining = false

    /// The trunk in execution order (parameter-free ops included).
    private let trunk: [any UnaryLayer]
    private let base: UpsampleBilinear
    private let add = Add()
    private let gradInput = Tensor(shape: [0])

    public init(features: Int = 64, blocks: Int = 16, upscale: Int = 4, rng: inout RNG) {
        precondition([2, 3, 4].contains(upscale), "MSRResNet supports x2, x3, x4")
        self.upscale = upscale
        convFirst = Conv2d(3, features, kernelSize: 3, padding: 1, rng: &rng)
        body = Sequential((0..<blocks).map { _ in ResidualBlockNoBN(features: features, rng: &rng) })
        let r1 = upscale == 4 ? 2 : upscale
        upconv1 = Conv2d(features, features * r1 * r1, kernelSize: 3, padding: 1, rng: &rng)
        upconv2 = upscale == 4 ? Conv2d(features, features * 4, kernelSize: 3, padding: 1, rng: &rng) : nil
        convHR = Conv2d(features, features, kernelSize: 3, padding: 1, rng: &rng)
        convLast = Conv2d(features, 3, kernelSize: 3, padding: 1, rng: &rng)
        var t: [any UnaryLayer] = [convFirst, LeakyReLU(negativeSlope: 0.1), body,
                                   upconv1, PixelShuffle(upscaleFactor: r1), LeakyReLU(negativeSlope: 0.1)]
        if let upconv2 { t += [upconv2, PixelShuffle(upscaleFactor: 2), LeakyReLU(negativeSlope: 0.1)] }
        t += [convHR, LeakyReLU(negativeSlope: 0.1), convLast]
        trunk = t
        base = UpsampleBilinear(scaleFactor: upscale)
    }

    public var children: [(name: String, layer: any Layer)] {
        var c: [(name: String, layer: any Layer)] = [("conv_first", convFirst), ("body", body), ("upconv1", upconv1)]
        if let upconv2 { c.append(("upconv2", upconv2)) }
        c += [("conv_hr", convHR), ("conv_last", convLast)]
        return c
    }

    public func forward(_ x: Tensor) -> Tensor {
        var y = x
        for l in trunk { y = l.forward(y) }
        return add.forward(y, base.forward(x))
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let (g, gBase) = add.backward(gradOutput)
        var d = g
        for l in trunk.reversed() { d = l.backward(d) }
        gradInput.assign(d)
        gradInput.add(base.backward(gBase))
        return gradInput
    }
}
