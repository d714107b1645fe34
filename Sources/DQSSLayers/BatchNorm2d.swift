// BatchNorm2d: per-channel normalisation of NCHW activations (Ioffe & Szegedy), PyTorch semantics.
//
// Train mode (batch statistics over N·H·W = m values per channel):
//   μ = Σx / m,  σ² = Σ(x − μ)² / m (biased, used to normalise),  x̂ = (x − μ) / √(σ² + ε),  y = γ x̂ + β
//   running_mean ← (1 − momentum) running_mean + momentum μ
//   running_var  ← (1 − momentum) running_var  + momentum σ² m/(m − 1)   (UNBIASED, as PyTorch)
//   num_batches_tracked += 1
// Eval mode: x̂ = (x − running_mean) / √(running_var + ε), y = γ x̂ + β (statistics are constants).
// Backward (both modes): dγ += Σ dy x̂, dβ += Σ dy; with s = γ / √(σ² + ε)
//   train: dx = s/m · (m dy − Σdy − x̂ Σ(dy x̂))      eval: dx = s dy
// Eval-mode backward is used by PTQ searches through a frozen network.
// Per-plane sums use DQSSTensor's SIMD reductions (fixed lane order), combined in Double.

import DQSSTensor

public final class BatchNorm2d: UnaryLayer {
    public let channels: Int
    public let eps: Float
    public let momentum: Float
    /// γ, init 1 (no weight decay).
    public let weight: Parameter
    /// β, init 0 (no weight decay).
    public let bias: Parameter
    public let runningMean: Tensor
    public let runningVar: Tensor
    /// Count of train-mode forwards (a 1-element tensor, as in PyTorch state_dicts).
    public let numBatchesTracked: Tensor
    public var isTraining = false

    private let output = Tensor(shape: [0])
    private let normalized = Tensor(shape: [0])    // x̂ saved for backward
    private let gradInput = Tensor(shape: [0])
    private let invStd = Tensor(shape: [0])        // 1/√(σ²+ε) per channel of the last forward
    private var forwardWasTraining = false

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
        self.channels = channels
        self.eps = eps
        self.momentum = momentum
        weight = Parameter(Tensor(shape: [channels], repeating: 1), decays: false)
        bias = Parameter(Tensor(shape: [channels]), decays: false)
        runningMean = Tensor(shape: [channels])
        runningVar = Tensor(shape: [channels], repeating: 1)
        numBatchesTracked = Tensor(shape: [1])
    }

    public var parameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }
    public var buffers: [(name: String, tensor: Tensor)] {
        [("running_mean", runningMean), ("running_var", runningVar), ("num_batches_tracked", numBatchesTracked)]
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.c == channels, "BatchNorm2d(\(channels)) got input \(x.shape)")
        let n = x.n, c = channels, hw = x.h * x.w, m = n * hw
        output.resize(to: x.shape)
        normalized.resize(to: x.shape)
        invStd.resize(to: [c])
        let training = isTraining
        precondition(!training || m > 1, "BatchNorm2d in train mode needs more than one value per channel, got \(x.shape)")
        forwardWasTraining = training
        let src = x.data, dst = output.data, xh = normalized.data, istd = invStd.data
        let gamma = weight.value.data, beta = bias.value.data
        let rMean = runningMean.data, rVar = runningVar.data
        let eps = eps, momentum = momentum
        parallelFor(c) { ch in
            var mean: Float, variance: Float
            if training {
                // Two passes in Double: mean, then centred sum of squares (stable for large offsets).
                var s = 0.0
                for i in 0..<n { s += Double(vectorSum(src + (i * c + ch) * hw, hw)) }
                let mu = s / Double(m)
                var ss = 0.0
                let muF = Float(mu)
                for i in 0..<n { ss += Double(vectorSumSquaredDeviations(src + (i * c + ch) * hw, hw, from: muF)) }
                mean = muF
                variance = Float(ss / Double(m))
                rMean[ch] = (1 - momentum) * rMean[ch] + momentum * mean
                rVar[ch] = (1 - momentum) * rVar[ch] + momentum * Float(ss / Double(m - 1))
            } else {
                mean = rMean[ch]
                variance = rVar[ch]
            }
            let inv = 1 / (variance + eps).squareRoot()
            istd[ch] = inv
            let g = gamma[ch], b = beta[ch]
            for i in 0..<n {
                let off = (i * c + ch) * hw
                let p = src + off, q = dst + off, h = xh + off
                for j in 0..<hw {
                    let v = (p[j] - mean) * inv
                    h[j] = v
                    q[j] = g * v + b
                }
            }
        }
        if training { numBatchesTracked.data[0] += 1 }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.shape == normalized.shape, "BatchNorm2d.backward: gradient \(gradOutput.shape) vs forward \(normalized.shape)")
        let shape = normalized.shape
        let n = shape[0], c = channels, hw = shape[2] * shape[3], m = n * hw
        gradInput.resize(to: shape)
        let dy = gradOutput.data, xh = normalized.data, dx = gradInput.data, istd = invStd.data
        let gamma = weight.value.data, dGamma = weight.grad.data, dBeta = bias.grad.data
        let wantGamma = weight.requiresGrad, wantBeta = bias.requiresGrad
        let training = forwardWasTraining
        parallelFor(c) { ch in
            var sumDy = 0.0, sumDyXh = 0.0
            for i in 0..<n {
                let off = (i * c + ch) * hw
                let (a, b) = vectorSumAndDot(dy + off, xh + off, hw)
                sumDy += Double(a); sumDyXh += Double(b)
            }
            if wantGamma { dGamma[ch] += Float(sumDyXh) }
            if wantBeta { dBeta[ch] += Float(sumDy) }
            let s = gamma[ch] * istd[ch]
            if training {
                let meanDy = Float(sumDy / Double(m)), meanDyXh = Float(sumDyXh / Double(m))
                for i in 0..<n {
                    let off = (i * c + ch) * hw
                    let g = dy + off, h = xh + off, d = dx + off
                    for j in 0..<hw { d[j] = s * (g[j] - meanDy - h[j] * meanDyXh) }
                }
            } else {
                for i in 0..<n {
                    let off = (i * c + ch) * hw
                    let g = dy + off, d = dx + off
                    for j in 0..<hw { d[j] = s * g[j] }
                }
            }
        }
        return gradInput
    }
}
