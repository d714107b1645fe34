// PixelShuffle (Shi et al. 2016; PyTorch nn.PixelShuffle): [N, C·r², H, W] -> [N, C, H·r, W·r] with
//   y[n, c, h·r + i, w·r + j] = x[n, c·r² + i·r + j, h, w].
// Backward applies the inverse rearrangement.

import DQSSTensor

public final class PixelShuffle: UnaryLayer {
    public let upscaleFactor: Int
    public var isTraining = false
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var inputShape: [Int] = []

    public init(upscaleFactor: Int) {
        precondition(upscaleFactor >= 1, "PixelShuffle needs upscaleFactor >= 1")
        self.upscaleFactor = upscaleFactor
    }

    /// Moves values between the [N, C·r², H, W] layout (`packed`) and [N, C, H·r, W·r] (`spread`).
    private func rearrange(packed: UnsafeMutablePointer<Float>, spread: UnsafeMutablePointer<Float>,
                           shape: [Int], toSpread: Bool) {
        let r = upscaleFactor, n = shape[0], cin = shape[1], h = shape[2], w = shape[3]
        let c = cin / (r * r), oh = h * r, ow = w * r
        parallelFor(n * cin, minChunk: 4) { plane in
            let i = plane / cin, ch = plane % cin
            let oc = ch / (r * r), sub = ch % (r * r), di = sub / r, dj = sub % r
            let p = packed + plane * h * w, q = spread + (i * c + oc) * oh * ow
            for y in 0..<h {
                for x in 0..<w {
                    let o = (y * r + di) * ow + x * r + dj
                    if toSpread { q[o] = p[y * w + x] } else { p[y * w + x] = q[o] }
                }
            }
        }
    }

    public func forward(_ x: Tensor) -> Tensor {
        let r = upscaleFactor
        precondition(x.rank == 4 && x.c % (r * r) == 0, "PixelShuffle(\(r)) got input \(x.shape)")
        inputShape = x.shape
        output.resize(to: [x.n, x.c / (r * r), x.h * r, x.w * r])
        rearrange(packed: x.data, spread: output.data, shape: x.shape, toSpread: true)
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.shape == output.shape, "PixelShuffle.backward: gradient \(gradOutput.shape) vs output \(output.shape)")
        gradInput.resize(to: inputShape)
        rearrange(packed: gradInput.data, spread: gradOutput.data, shape: inputShape, toSpread: false)
        return gradInput
    }
}
