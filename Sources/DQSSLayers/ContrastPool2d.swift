// ContrastPool2d: the pooling of IMDN's contrast-aware channel attention (Hui et al. 2019):
//   y[n, c, 0, 0] = μ + σ,   μ = (1/HW) Σ_p x_p,   σ = sqrt((1/HW) Σ_p (x_p − μ)²)
// (IMDN's `stdv_channels(x) + mean_channels(x)`: population standard deviation, divisor H·W).
// Backward: ∂y/∂x_p = 1/HW + (x_p − μ) / (HW · σ)   (the second term is 0 when σ = 0, where the
// square root has no derivative; PyTorch would give NaN there).
// Sums are accumulated in Double: planes of 10⁵ values lose digits in Float.

import DQSSTensor

public final class ContrastPool2d: UnaryLayer {
    public var isTraining = false
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    /// Saved per plane: μ and σ (the backward needs both and the input).
    private let mean = Tensor(shape: [0])
    private let std = Tensor(shape: [0])
    private var input: Tensor?

    public init() {}

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4, "ContrastPool2d expects NCHW input, got \(x.shape)")
        input = x
        let hw = x.h * x.w, planes = x.n * x.c
        output.resize(to: [x.n, x.c, 1, 1])
        mean.resize(to: [planes])
        std.resize(to: [planes])
        let src = x.data, dst = output.data, mu = mean.data, sd = std.data
        parallelFor(planes, minChunk: 4) { plane in
            let p = src + plane * hw
            var s = 0.0
            for j in 0..<hw { s += Double(p[j]) }
            let m = s / Double(hw)
            var v = 0.0
            for j in 0..<hw { let d = Double(p[j]) - m; v += d * d }
            let sigma = (v / Double(hw)).squareRoot()
            mu[plane] = Float(m)
            sd[plane] = Float(sigma)
            dst[plane] = Float(m + sigma)
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("ContrastPool2d.backward before forward") }
        precondition(gradOutput.count == output.count, "ContrastPool2d.backward: gradient \(gradOutput.shape) vs output \(output.shape)")
        gradInput.resize(to: x.shape)
        let hw = x.h * x.w, inv = 1 / Float(hw)
        let src = x.data, g = gradOutput.data, dx = gradInput.data, mu = mean.data, sd = std.data
        parallelFor(x.n * x.c, minChunk: 4) { plane in
            let p = src + plane * hw, q = dx + plane * hw
            let gm = g[plane] * inv, m = mu[plane]
            let gs: Float = sd[plane] > 0 ? g[plane] * inv / sd[plane] : 0
            for j in 0..<hw { q[j] = gm + gs * (p[j] - m) }
        }
        return gradInput
    }
}
