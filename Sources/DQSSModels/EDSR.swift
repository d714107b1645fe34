// EDSR: BasicSR's EDSR (Lim et al. 2017; basicsr/archs/edsr_arch.py), the "baseline" size by default
// (64 features, 16 blocks, res_scale 1), x4:
//
//   x   = (x − mean) · 255                              mean = DIV2K RGB mean (0.4488, 0.4371, 0.4040)
//   x   = conv_first(x)                                 3 -> 64, 3x3
//   res = conv_after_body(body(x)) + x                  16 ResidualBlockNoBN; 64 -> 64, 3x3
//   x   = conv_last(upsample(res))                      upsample (x4) = [conv 64->256, PixelShuffle2] x 2
//   x   = x / 255 + mean
//
// Parameter names conv_first, body.{i}.conv1/conv2, conv_after_body, upsample.0, upsample.2, conv_last
// (BasicSR `Upsample` is an nn.Sequential: conv at 0, shuffle at 1, conv at 2, shuffle at 3; x3 is one
// conv 64->576 + PixelShuffle3). The mean is not in the state_dict. Baseline x4: 1,517,571 parameters.

import DQSSTensor
import DQSSLayers

public final class EDSR: UnaryLayer {
    public static let div2kMean: [Float] = [0.4488, 0.4371, 0.4040]

    public let upscale: Int
    public let convFirst: Conv2d
    public let body: Sequential
    public let convAfterBody: Conv2d
    public let upsample: Sequential
    public let convLast: Conv2d
    public var isTraining = false

    private let subMean: ChannelAffine
    private let addMean: ChannelAffine
    private let skip = Add()
    private let gradInput = Tensor(shape: [0])

    public init(features: Int = 64, blocks: Int = 16, upscale: Int = 4, resScale: Float = 1,
                imageRange: Float = 255, mean: [Float] = EDSR.div2kMean, rng: inout RNG) {
        precondition([2, 3, 4, 8].contains(upscale), "EDSR supports x2, x3, x4, x8")
        self.upscale = upscale
        subMean = .subtractMean(mean, range: imageRange)
        addMean = .addMean(mean, range: imageRange)
        convFirst = Conv2d(3, features, kernelSize: 3, padding: 1, rng: &rng)
        body = Sequential((0..<blocks).map { _ in ResidualBlockNoBN(features: features, resScale: resScale, rng: &rng) })
        convAfterBody = Conv2d(features, features, kernelSize: 3, padding: 1, rng: &rng)
        var up: [any UnaryLayer] = []
        if upscale == 3 {
            up = [Conv2d(features, features * 9, kernelSize: 3, padding: 1, rng: &rng), PixelShuffle(upscaleFactor: 3)]
        } else {
            var s = upscale
            while s > 1 {
                up += [Conv2d(features, features * 4, kernelSize: 3, padding: 1, rng: &rng), PixelShuffle(upscaleFactor: 2)]
                s /= 2
            }
        }
        upsample = Sequential(up)
        convLast = Conv2d(features, 3, kernelSize: 3, padding: 1, rng: &rng)
    }

    public var children: [(name: String, layer: any Layer)] {
        [("conv_first", convFirst), ("body", body), ("conv_after_body", convAfterBody), ("upsample", upsample),
         ("conv_last", convLast)]
    }

    public func forward(_ x: Tensor) -> Tensor {
        let f = convFirst.forward(subMean.forward(x))
        let res = skip.forward(convAfterBody.forward(body.forward(f)), f)
        return addMean.forward(convLast.forward(upsample.forward(res)))
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let gRes = upsample.backward(convLast.backward(addMean.backward(gradOutput)))
        let (gBody, gSkip) = skip.backward(gRes)
        gradInput.assign(body.backward(convAfterBody.backward(gBody)))
        gradInput.add(gSkip)
        return subMean.backward(convFirst.backward(gradInput))
    }
}
