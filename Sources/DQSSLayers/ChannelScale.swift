// ChannelScale: y[n, c, h, w] = x[n, c, h, w] · s[n, c] — a feature map multiplied by per-channel
// attention weights s of shape [N, C, 1, 1] (the `x * y` of squeeze-excitation / IMDN's CCA layer).
// Not a UnaryLayer: two inputs. Backward: dx = dy · s,  ds[n, c] = Σ_{h,w} dy · x.

import DQSSTensor

public final class ChannelScale: Layer {
    public var isTraining = false
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private let gradScale = Tensor(shape: [0])
    private var input: Tensor?
    private var scale: Tensor?

    public init() {}

    public func forward(_ x: Tensor, _ s: Tensor) -> Tensor {
        precondition(x.rank == 4 && s.count == x.n * x.c,
                     "ChannelScale: input \(x.shape) needs [N, C, 1, 1] weights, got \(s.shape)")
        input = x
        scale = s
        output.resize(to: x.shape)
        let hw = x.h * x.w, src = x.data, w = s.data, dst = output.data
        parallelFor(x.n * x.c, minChunk: 4) { plane in
            let a = w[plane], p = src + plane * hw, q = dst + plane * hw
            for j in 0..<hw { q[j] = p[j] * a }
        }
        return output
    }

    /// (dL/dx, dL/ds), both ChannelScale-owned buffers.
    public func backward(_ gradOutput: Tensor) -> (Tensor, Tensor) {
        guard let x = input, let s = scale else { preconditionFailure("ChannelScale.backward before forward") }
        precondition(gradOutput.shape == x.shape, "ChannelScale.backward: gradient \(gradOutput.shape) vs input \(x.shape)")
        gradInput.resize(to: x.shape)
        gradScale.resize(to: s.shape)
        let hw = x.h * x.w, src = x.data, w = s.data, g = gradOutput.data, dx = gradInput.data, ds = gradScale.data
        parallelFor(x.n * x.c, minChunk: 4) { plane in
            let a = w[plane], p = src + plane * hw, gp = g + plane * hw, q = dx + plane * hw
            var acc = 0.0
            for j in 0..<hw {
                q[j] = gp[j] * a
                acc += Double(gp[j]) * Double(p[j])
            }
            ds[plane] = Float(acc)
        }
        return (gradInput, gradScale)
    }
}
