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
//
// Synchronised BN (`statisticsReducer` set, train mode; data-parallel training, see
// BatchStatisticsReducer): m, μ and σ² above are those of the GLOBAL batch, every replica's share
// together. Forward: the same two passes as above, each summed over the replicas: Σx per channel with
// the local count m_r (one reducer call, 1 + C Doubles) gives μ, then Σ(x − μ)² (one call, C Doubles).
// Why two calls and not one of Σx and Σx²: the per-plane Float sums of (x − μ)² are then the very sums
// one process computes on the same images (a plane, one image's channel, never straddles replicas), so R
// replicas and one process differ only in how Double partial sums are grouped, and the Float statistics
// agree in practice bit for bit (with one replica exactly); E[x²] − μ² would also cancel badly when
// |μ| ≫ σ. This matters for QAT: one ulp in an activation can flip a rounding of the next quantizer.
// Running statistics come from the global values, identical on every replica. Backward: Σdy and Σ dy x̂
// over the global batch (one call, 2C Doubles), then the train formula with the global m.
// dγ, dβ stay LOCAL sums: each replica's dy is the gradient of its own share of the loss, and the
// gradient reducer that follows (BucketedGradientReducer: mean over replicas) turns the local sums into
// the gradient of the global mean loss, exactly as for every other parameter.
// The path without a reducer is unchanged.

import DQSSTensor

public final class BatchNorm2d: UnaryLayer {
    public let channels: Int
    public let eps: Float
    /// Weight of the new batch in the running statistics (BatchNormRecalibration sets 1/k for a plain average).
    public var momentum: Float
    /// γ, init 1 (no weight decay).
    public let weight: Parameter
    /// β, init 0 (no weight decay).
    public let bias: Parameter
    public let runningMean: Tensor
    public let runningVar: Tensor
    /// Count of train-mode forwards (a 1-element tensor, as in PyTorch state_dicts).
    public let numBatchesTracked: Tensor
    public var isTraining = false
    /// Set for synchronised BN: train-mode statistics over every replica's share of the batch (nil: this
    /// batch only, "per-rank" BN). Every replica must set it alike: each train forward/backward is a collective.
    public var statisticsReducer: (any BatchStatisticsReducer)?

    private let output = Tensor(shape: [0])
    private let normalized = Tensor(shape: [0])    // x̂ saved for backward
    private let gradInput = Tensor(shape: [0])
    private let invStd = Tensor(shape: [0])        // 1/√(σ²+ε) per channel of the last forward
    private var forwardWasTraining = false
    /// The reducer of the last train-mode forward (its backward must sum over the same replicas) and the
    /// global value count m it saw.
    private var forwardReducer: (any BatchStatisticsReducer)?
    private var globalCount = 0.0

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
        let reducer = training ? statisticsReducer : nil
        precondition(!training || reducer != nil || m > 1, "BatchNorm2d in train mode needs more than one value per channel, got \(x.shape)")
        forwardWasTraining = training
        forwardReducer = reducer
        // Synchronised: μ and Σ(x − μ)² of the global batch, per channel (empty otherwise).
        let global = reducer.map { globalStatistics(x, $0) } ?? (count: 0, mean: [], m2: [])
        if reducer != nil { globalCount = global.count }
        let synced = reducer != nil, total = global.count
        let src = x.data, dst = output.data, xh = normalized.data, istd = invStd.data
        let gamma = weight.value.data, beta = bias.value.data
        let rMean = runningMean.data, rVar = runningVar.data
        let eps = eps, momentum = momentum
        parallelFor(c) { ch in
            var mean: Float, variance: Float
            if synced {
                let m2 = global.m2[ch]
                mean = global.mean[ch]
                variance = Float(m2 / total)
                rMean[ch] = (1 - momentum) * rMean[ch] + momentum * mean
                rVar[ch] = (1 - momentum) * rVar[ch] + momentum * Float(m2 / (total - 1))
            } else if training {
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

    /// Synchronised statistics of `x`'s channels over every replica, the two passes of the unsynchronised
    /// path with a reducer call after each. Returns the global count m, μ (as the Float the normalisation
    /// uses) and Σ(x − μ)² per channel.
    private func globalStatistics(_ x: Tensor, _ reducer: any BatchStatisticsReducer)
        -> (count: Double, mean: [Float], m2: [Double]) {
        let n = x.n, c = channels, hw = x.h * x.w
        let src = x.data
        // Pass 1, layout [m_r, Σx per channel].
        var sums = [Double](repeating: 0, count: 1 + c)
        sums[0] = Double(n * hw)
        sums.withUnsafeMutableBufferPointer { buffer in
            let out = buffer.baseAddress! + 1
            parallelFor(c) { ch in
                var s = 0.0
                for i in 0..<n { s += Double(vectorSum(src + (i * c + ch) * hw, hw)) }
                out[ch] = s
            }
        }
        reducer.sum(&sums)
        let total = sums[0]
        precondition(total > 1, "synchronised BatchNorm2d(\(c)) needs more than one value per channel over all replicas, got \(total)")
        let mean = (0..<c).map { Float(sums[1 + $0] / total) }
        // Pass 2: Σ(x − μ)² per channel about the GLOBAL mean.
        var squares = [Double](repeating: 0, count: c)
        squares.withUnsafeMutableBufferPointer { buffer in
            let out = buffer.baseAddress!
            mean.withUnsafeBufferPointer { mu in
                parallelFor(c) { ch in
                    var ss = 0.0
                    for i in 0..<n { ss += Double(vectorSumSquaredDeviations(src + (i * c + ch) * hw, hw, from: mu[ch])) }
                    out[ch] = ss
                }
            }
        }
        reducer.sum(&squares)
        return (total, mean, squares)
    }

    /// Train mode: dx = γ·istd·(dy − mean(dy) − x̂·mean(dy·x̂)); eval mode: dx = γ·istd·dy. After a
    /// synchronised forward the two per-channel sums are added over the replicas in one reducer call and
    /// divided by the global count; dγ, dβ always accumulate the LOCAL sums (see top).
    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.shape == normalized.shape, "BatchNorm2d.backward: gradient \(gradOutput.shape) vs forward \(normalized.shape)")
        let shape = normalized.shape
        let n = shape[0], c = channels, hw = shape[2] * shape[3]
        gradInput.resize(to: shape)
        let dy = gradOutput.data, xh = normalized.data, dx = gradInput.data, istd = invStd.data
        let gamma = weight.value.data
        let training = forwardWasTraining
        var sums = channelGradientSums(dy, xh, n: n, hw: hw)
        var count = Double(n * hw)
        if training, let reducer = forwardReducer {
            reducer.sum(&sums)
            count = globalCount
        }
        let m = count
        sums.withUnsafeBufferPointer { sum in
            parallelFor(c) { ch in
                let s = gamma[ch] * istd[ch]
                if training {
                    let meanDy = Float(sum[ch] / m), meanDyXh = Float(sum[c + ch] / m)
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
        }
        return gradInput
    }

    /// Per-channel Σdy and Σ dy·x̂ of this replica, laid out [Σdy per channel, Σ dy·x̂ per channel];
    /// accumulates them into dβ and dγ on the way.
    private func channelGradientSums(_ dy: UnsafeMutablePointer<Float>, _ xh: UnsafeMutablePointer<Float>, n: Int, hw: Int) -> [Double] {
        let c = channels
        let dGamma = weight.grad.data, dBeta = bias.grad.data
        let wantGamma = weight.requiresGrad, wantBeta = bias.requiresGrad
        var sums = [Double](repeating: 0, count: 2 * c)
        sums.withUnsafeMutableBufferPointer { buffer in
            let out = buffer.baseAddress!
            parallelFor(c) { ch in
                var sumDy = 0.0, sumDyXh = 0.0
                for i in 0..<n {
                    let off = (i * c + ch) * hw
                    let (a, b) = vectorSumAndDot(dy + off, xh + off, hw)
                    sumDy += Double(a); sumDyXh += Double(b)
                }
                if wantGamma { dGamma[ch] += Float(sumDyXh) }
                if wantBeta { dBeta[ch] += Float(sumDy) }
                out[ch] = sumDy
                out[c + ch] = sumDyXh
            }
        }
        return sums
    }
}
