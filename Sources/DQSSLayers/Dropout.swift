// Dropout (inverted): in train mode y = x · mask / (1 − p) with mask_i ~ Bernoulli(1 − p) drawn from the
// layer's own seeded RNG (reproducible run to run); backward multiplies by the same mask / (1 − p).
// Eval mode is the identity (forward returns x itself, backward returns the gradient itself).

import DQSSTensor

public final class Dropout: UnaryLayer {
    public let p: Float
    public var isTraining = false
    /// The mask generator; part of a training checkpoint (`rng.state`).
    public var rng: RNG
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private let mask = Tensor(shape: [0])   // 0 or 1/(1−p)
    private var forwardWasTraining = false

    public init(p: Float, seed: UInt64) {
        precondition(p >= 0 && p < 1, "Dropout probability must be in [0, 1), got \(p)")
        self.p = p
        rng = RNG(seed: seed)
    }

    public func forward(_ x: Tensor) -> Tensor {
        forwardWasTraining = isTraining && p > 0
        guard forwardWasTraining else { return x }
        output.resize(to: x.shape)
        mask.resize(to: x.shape)
        let keep = 1 / (1 - p), m = mask.data
        for i in 0..<x.count { m[i] = rng.uniform() < p ? 0 : keep }
        let src = x.data, y = output.data
        parallelRanges(x.count, minChunk: 1 << 15) { r in
            for i in r { y[i] = src[i] * m[i] }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard forwardWasTraining else { return gradOutput }
        precondition(gradOutput.count == mask.count, "Dropout.backward: gradient \(gradOutput.shape) vs mask \(mask.shape)")
        gradInput.resize(to: gradOutput.shape)
        let g = gradOutput.data, m = mask.data, dx = gradInput.data
        parallelRanges(gradOutput.count, minChunk: 1 << 15) { r in
            for i in r { dx[i] = g[i] * m[i] }
        }
        return gradInput
    }
}
