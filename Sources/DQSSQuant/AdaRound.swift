// AdaRound (Nagel et al. 2020, "Up or Down? Adaptive Rounding for Post-Training Quantization"): per layer,
// learn whether each weight rounds up or down, with the threshold(s) of a base candidate fixed, by
// minimising the reconstruction error of the layer's output on the calibration images.
//
//     W̃(V)  = s · clamp(⌊W/s⌋ + h(V), q_min, q_max)       h(V) = clip(σ(V)(ζ − γ) + γ, 0, 1), ζ = 1.1, γ = −0.1
//     L(V)  = mean_{n, spatial} Σ_c (y(x; W̃) − y(x; W))²   +   λ Σ_i (1 − |2h(V_i) − 1|^β)
//
// (reconstruction: the squared error summed over output channels, averaged over images and positions, as
// AIMET computes it). V starts where h(V) = W/s − ⌊W/s⌋, so the first W̃ is W itself (inside the clip
// range). Adam (lr 1e-3) on V, a batch of `batch` calibration images per iteration drawn without
// replacement, `iterations` iterations; the regulariser is off for the first `warmStart` share, then β
// decays from βstart to βend by a cosine (AIMET's schedule), pushing every h(V) to 0 or 1. The result
// is up_i = [h(V_i) ≥ ½] (WeightRounding). Defaults: AIMET's and the paper's (10k iterations, batch 32,
// β 20 → 2, λ 0.01, warm start 20 %).
//
// Inputs are the layer's FP32 inputs (the stored calibration inputs EQ also uses); the target is the
// FP32 layer's output. The gradient of the reconstruction term w.r.t. W̃ is the layer's own backward
// (a weight hook hands it over), so Conv2d (any groups) and Linear work alike; a convolution for which it
// is cheaper evaluates the same term through its input patches' Grams instead (AdaRoundPatchGram.swift:
// 10–100x fewer operations on CIFAR ResNets, same batches, same result up to float rounding).
// Data parallelism: each rank draws its batches from its own shard; the gradient of V is averaged over
// the ranks every iteration, so every rank holds the same V.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSDistributed

public struct AdaRoundSettings: Sendable, Equatable, Codable {
    public var iterations: Int
    public var batch: Int
    public var betaStart: Float
    public var betaEnd: Float
    /// λ, the weight of the rounding regulariser.
    public var regularization: Float
    /// Share of the iterations before the regulariser starts.
    public var warmStart: Double
    public var learningRate: Float
    public var seed: UInt64

    public init(iterations: Int = 10_000, batch: Int = 32, betaStart: Float = 20, betaEnd: Float = 2,
                regularization: Float = 0.01, warmStart: Double = 0.2, learningRate: Float = 1e-3, seed: UInt64 = 0) {
        precondition(iterations >= 0 && batch >= 1 && (0...1).contains(warmStart), "AdaRound settings")
        self.iterations = iterations; self.batch = batch
        self.betaStart = betaStart; self.betaEnd = betaEnd
        self.regularization = regularization; self.warmStart = warmStart
        self.learningRate = learningRate; self.seed = seed
    }
}

/// What one layer's optimisation did (for progress lines and reports).
public struct AdaRoundLayerReport: Sendable, Equatable {
    /// Reconstruction loss of round-to-nearest and of the learned rounding, on the same final batch.
    public var nearestLoss: Double
    public var learnedLoss: Double
    /// Weights rounded the other way from round-to-nearest.
    public var flips: Int
    public var seconds: Double
    /// The reconstruction term went through the input patches' Grams (AdaRoundPatchGram) rather than the layer.
    public var patchGram: Bool
}

public enum AdaRound {
    /// How the reconstruction term is evaluated: through the layer (forward + weight gradient over the
    /// batch), through a convolution's patch Grams (AdaRoundPatchGram), or whichever is cheaper.
    public enum ReconstructionPath: Sendable { case automatic, direct, patchGram }

    public static let zeta: Float = 1.1
    public static let gamma: Float = -0.1

    /// h(V) = clip(σ(V)(ζ − γ) + γ, 0, 1).
    @inlinable public static func rectifiedSigmoid(_ v: Float) -> Float { rectifiedSigmoidAndDerivative(v).h }

    /// dh/dV: σ(V)(1 − σ(V))(ζ − γ) where the clip is inactive (0 < h < 1), else 0.
    @inlinable public static func rectifiedSigmoidDerivative(_ v: Float) -> Float { rectifiedSigmoidAndDerivative(v).dh }

    /// h(V) and dh/dV from one σ(V).
    @inlinable public static func rectifiedSigmoidAndDerivative(_ v: Float) -> (h: Float, dh: Float) {
        let s = sigmoid(v), raw = s * (zeta - gamma) + gamma
        return (min(max(raw, 0), 1), raw > 0 && raw < 1 ? s * (1 - s) * (zeta - gamma) : 0)
    }

    @inlinable static func sigmoid(_ v: Float) -> Float { 1 / (1 + exp(-v)) }

    /// V with h(V) = r, for a fractional part r in [0, 1) (the start: W̃ = W).
    public static func initialLogit(rest r: Float) -> Float {
        let s = (r - gamma) / (zeta - gamma)   // in (0.083, 0.917): finite
        return log(s / (1 - s))
    }

    /// β at iteration t (0-based) of n, or nil during the warm start (regulariser off).
    public static func beta(iteration t: Int, of n: Int, settings: AdaRoundSettings) -> Float? {
        let warm = settings.warmStart * Double(n)
        guard Double(t) >= warm, n > 0 else { return nil }
        let rel = (Double(t) - warm) / max(Double(n) - warm, 1)
        let b = Double(settings.betaEnd) + 0.5 * Double(settings.betaStart - settings.betaEnd) * (1 + cos(rel * .pi))
        return Float(b)
    }

    /// The regulariser of one weight, 1 − |2h − 1|^β, and its derivative w.r.t. h.
    public static func regularizer(h: Float, beta: Float) -> (value: Float, dh: Float) {
        (1 - pow(abs(2 * h - 1), beta), regularizerDerivative(h: h, beta: beta))
    }

    /// d/dh (1 − |2h − 1|^β) = −2β |2h − 1|^(β−1) sign(2h − 1).
    @inlinable public static func regularizerDerivative(h: Float, beta: Float) -> Float {
        let d = 2 * h - 1, a = abs(d)
        return a == 0 ? 0 : -beta * pow(a, beta - 1) * 2 * (d > 0 ? 1 : -1)
    }

    /// Learn the rounding of `layer`'s weight with `thresholds` (one, or one per output channel) on its
    /// FP32 `inputs` (batches, leading dimension = images). `progress(iteration, loss)` every ~1,000
    /// iterations. The layer's hooks and gradient flags are restored on return. On several ranks, `inputs`
    /// is this rank's contiguous shard of the images (Sharding order) and every rank must call this for
    /// the same layer: the result equals one process's on all the images, each iteration's work split.
    public static func learn(layer: any HookableLayer, inputs: [Tensor], quantizer: UniformQuantizer,
                             thresholds: [Float], settings: AdaRoundSettings,
                             communicator: any Communicator = SingleProcess(),
                             path: ReconstructionPath = .automatic,
                             progress: ((Int, Double) -> Void)? = nil) -> (WeightRounding, AdaRoundLayerReport) {
        let start = Date()
        let w = layer.weight.value.copy()
        let state = AdaRoundRelaxation(w, quantizer: quantizer, thresholds: thresholds)
        let images = ImageBank(inputs)
        // Scoped changes to the layer, undone on return.
        let saved = (layer.inputHook, layer.weightHook, layer.weight.requiresGrad,
                     layer.parameters.map(\.parameter.requiresGrad), (layer as? Conv2d)?.needsInputGradient)
        defer {
            layer.inputHook = saved.0; layer.weightHook = saved.1; layer.weight.requiresGrad = saved.2
            for (p, r) in zip(layer.parameters, saved.3) { p.parameter.requiresGrad = r }
            if let c = layer as? Conv2d, let n = saved.4 { c.needsInputGradient = n }
        }
        layer.inputHook = nil
        layer.weightHook = nil
        for p in layer.parameters { p.parameter.requiresGrad = false }
        (layer as? Conv2d)?.needsInputGradient = false
        let references = inputs.map { layer.forward($0).copy() }
        let hook = AdaRoundRelaxationHook(state)
        layer.weightHook = hook
        // A convolution whose patch Grams are cheaper than convolving the batch takes that path (same
        // objective, batch for batch: AdaRoundPatchGram.swift).
        var gram = path == .direct ? nil
            : AdaRoundPatchGram(layer: layer, bank: images, batch: settings.batch,
                                memoryLimit: 1 << 30, force: path == .patchGram)
        let relaxed = Tensor(shape: w.shape)

        // Data parallel over the ranks' contiguous shards of the calibration images (Sharding): every rank
        // draws the same global batch (same seed), evaluates the images of it that it holds, and the
        // gradients, each weighted by its share of the batch, are summed. One process and N ranks take the
        // same steps (up to the order of float sums), the work of an iteration is split, not repeated, and a
        // rank holding none of the batch (or no images at all) adds a zero gradient but still enters
        // every allreduce.
        let counts = communicator.allgather([Double(images.count)]).map { Int($0[0]) }
        let total = counts.reduce(0, +), offset = counts[..<communicator.rank].reduce(0, +)
        var rng = RNG(seed: settings.seed)
        var adam = AdamMoments(count: w.count)
        var g = [Float](repeating: 0, count: w.count)
        // dL/dW̃ and the loss on their way through the allreduce.
        var shared = communicator.size > 1 ? [Float](repeating: 0, count: w.count + 1) : []
        var lastLoss = 0.0
        let n = settings.iterations
        for t in 0..<n where total > 0 {
            let global = ImageBank.sample(settings.batch, of: total, rng: &rng)
            let picked = global.compactMap { (offset..<offset + images.count).contains($0) ? $0 - offset : nil }   // this rank's part
            var loss = 0.0
            if picked.isEmpty {
                hook.weightGradient.resize(to: w.shape)
                hook.weightGradient.zero()
            } else if gram != nil {
                state.value(into: relaxed)
                loss = gram!.lossAndGradient(picked: picked, relaxed: relaxed, original: w, into: hook.weightGradient)
            } else {
                let x = images.gather(picked), reference = ImageBank.gather(references, picked, bank: images)
                let (l, dy) = reconstruction(layer.forward(x), reference)
                loss = l
                _ = layer.backward(dy)
            }
            // The reconstruction term is a mean over the batch's images: each rank's mean over its part,
            // weighted by that part's share. The regulariser's gradient is the same on every rank (same V).
            if communicator.size > 1 {
                let dW = hook.weightGradient, share = Float(picked.count) / Float(global.count)
                for i in 0..<w.count { shared[i] = dW.data[i] * share }
                shared[w.count] = Float(loss) * share
                communicator.allreduce(&shared, .sum)
                for i in 0..<w.count { dW.data[i] = shared[i] }
                loss = Double(shared[w.count])
            }
            lastLoss = loss
            state.gradient(reconstruction: hook.weightGradient, beta: beta(iteration: t, of: n, settings: settings),
                           lambda: settings.regularization, into: &g)
            adam.step(&state.v, gradient: g, lr: settings.learningRate)
            if let progress, (t + 1) % 1000 == 0 || t + 1 == n { progress(t + 1, loss) }
        }
        let rounding = state.hardRounding()
        // The two losses on one batch of the first images, hard rounding vs nearest.
        var report = AdaRoundLayerReport(nearestLoss: 0, learnedLoss: lastLoss,
                                         flips: rounding.flips(from: w, quantizer: quantizer, thresholds: thresholds),
                                         seconds: 0, patchGram: gram != nil)
        if images.count > 0 {
            let picked = Array(0..<min(settings.batch, images.count))
            let x = images.gather(picked), reference = ImageBank.gather(references, picked, bank: images)
            let fixed = FakeQuantHook(quantizer: quantizer, threshold: thresholds[0],
                                      channelThresholds: thresholds.count > 1 ? thresholds : nil,
                                      rounding: WeightRounding.nearest(w, quantizer: quantizer, thresholds: thresholds))
            layer.weightHook = fixed
            report.nearestLoss = reconstruction(layer.forward(x), reference).loss
            fixed.rounding = rounding
            report.learnedLoss = reconstruction(layer.forward(x), reference).loss
        }
        report.seconds = Date().timeIntervalSince(start)
        return (rounding, report)
    }

    /// mean over (image, position) of Σ_c (y − r)², and its gradient w.r.t. y.
    public static func reconstruction(_ y: Tensor, _ r: Tensor) -> (loss: Double, grad: Tensor) {
        precondition(y.shape == r.shape, "AdaRound: output \(y.shape) vs reference \(r.shape)")
        let channels = y.rank >= 2 ? y.shape[1] : 1
        let m = Float(y.count / max(channels, 1))
        let grad = Tensor(shape: y.shape)
        var sum = 0.0
        for i in 0..<y.count {
            let d = y.data[i] - r.data[i]
            sum += Double(d * d)
            grad.data[i] = 2 * d / m
        }
        return (sum / Double(m), grad)
    }
}

/// W̃(V) and its gradient: the per-element scale, ⌊W/s⌋ and V.
public final class AdaRoundRelaxation {
    public let shape: [Int]
    public let quantizer: UniformQuantizer
    var scale: [Float]
    var floorCode: [Float]
    /// The relaxation variables V, one per weight.
    public var v: [Float]
    /// Elements of an all-zero slice (degenerate threshold): W̃ = 0, no gradient.
    var frozen: [Bool]

    public init(_ w: Tensor, quantizer: UniformQuantizer, thresholds: [Float]) {
        shape = w.shape
        self.quantizer = quantizer
        scale = [Float](repeating: 1, count: w.count)
        floorCode = [Float](repeating: 0, count: w.count)
        v = [Float](repeating: 0, count: w.count)
        frozen = [Bool](repeating: true, count: w.count)
        WeightRounding.forEachElement(w, quantizer: quantizer, thresholds: thresholds) { i, x, s in
            let f = (x / s).rounded(.down)
            scale[i] = s; floorCode[i] = f; frozen[i] = false
            v[i] = AdaRound.initialLogit(rest: min(max(x / s - f, 0), 1 - 1e-6))
        }
    }

    /// W̃(V).
    public func value(into out: Tensor) {
        out.resize(to: shape)
        let lo = Float(quantizer.qmin), hi = Float(quantizer.qmax)
        for i in 0..<v.count {
            out.data[i] = frozen[i] ? 0 : scale[i] * min(max(floorCode[i] + AdaRound.rectifiedSigmoid(v[i]), lo), hi)
        }
    }

    /// g ← ∂L/∂V: dL/dW̃ · ∂W̃/∂V (zero where the clamp to [q_min, q_max] is active) plus, with a β, the
    /// regulariser's λ ∂/∂V Σ (1 − |2h(V) − 1|^β). One pass, σ(V) once per weight (the hot loop of AdaRound).
    public func gradient(reconstruction dW: Tensor, beta: Float?, lambda: Float, into g: inout [Float]) {
        let lo = Float(quantizer.qmin), hi = Float(quantizer.qmax)
        for i in 0..<v.count {
            if frozen[i] { g[i] = 0; continue }
            let (h, dh) = AdaRound.rectifiedSigmoidAndDerivative(v[i])
            let q = floorCode[i] + h
            var gi: Float = q < lo || q > hi ? 0 : dW.data[i] * scale[i] * dh
            if let beta { gi += lambda * AdaRound.regularizerDerivative(h: h, beta: beta) * dh }
            g[i] = gi
        }
    }

    /// λ Σ (1 − |2h(V) − 1|^β).
    public func regularizer(beta: Float, lambda: Float) -> Double {
        v.indices.reduce(0.0) { acc, i in
            frozen[i] ? acc : acc + Double(lambda * AdaRound.regularizer(h: AdaRound.rectifiedSigmoid(v[i]), beta: beta).value)
        }
    }

    /// up_i = [h(V_i) ≥ ½].
    public func hardRounding() -> WeightRounding {
        WeightRounding(up: v.indices.map { frozen[$0] ? 0 : (AdaRound.rectifiedSigmoid(v[$0]) >= 0.5 ? 1 : 0) })
    }
}

/// The weight hook of the optimisation: forward W̃(V), backward keeps dL/dW̃ and passes nothing to W.
public final class AdaRoundRelaxationHook: TensorHook {
    public let state: AdaRoundRelaxation
    let output = Tensor(shape: [0])
    /// dL/dW̃ of the last backward.
    public let weightGradient = Tensor(shape: [0])
    private let zero = Tensor(shape: [0])
    public init(_ state: AdaRoundRelaxation) { self.state = state }

    public func forward(_ x: Tensor) -> Tensor {
        state.value(into: output)
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        weightGradient.resize(to: gradOutput.shape)
        weightGradient.data.update(from: gradOutput.data, count: gradOutput.count)
        zero.resize(to: gradOutput.shape)
        zero.zero()
        return zero
    }
}

/// Adam's moments over a flat parameter (PyTorch's torch.optim.Adam defaults β 0.9/0.999, ε 1e-8).
struct AdamMoments {
    var m: [Float], s: [Float], t = 0
    init(count: Int) { m = [Float](repeating: 0, count: count); s = m }
    mutating func step(_ p: inout [Float], gradient g: [Float], lr: Float) {
        t += 1
        let b1: Float = 0.9, b2: Float = 0.999, eps: Float = 1e-8
        let bc1 = 1 - pow(b1, Float(t)), bc2 = (1 - pow(b2, Float(t))).squareRoot()
        for i in p.indices {
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            s[i] = b2 * s[i] + (1 - b2) * g[i] * g[i]
            p[i] -= lr / bc1 * m[i] / (s[i].squareRoot() / bc2 + eps)
        }
    }
}

/// The calibration images of one layer as one bank, drawn by index.
struct ImageBank {
    let batches: [Tensor]
    /// (batch, row) of image k.
    let index: [(Int, Int)]
    init(_ batches: [Tensor]) {
        self.batches = batches
        index = batches.enumerated().flatMap { b, t in (0..<(t.shape.first ?? 0)).map { (b, $0) } }
    }
    var count: Int { index.count }

    /// `k` distinct indices of 0..<count (all of them when fewer), uniformly at random.
    static func sample(_ k: Int, of count: Int, rng: inout RNG) -> [Int] {
        var pool = Array(0..<count)
        let k = min(k, count)
        for i in 0..<k { pool.swapAt(i, i + rng.int(below: count - i)) }
        return Array(pool[0..<k])
    }

    func gather(_ picked: [Int]) -> Tensor { Self.gather(batches, picked, bank: self) }

    /// Rows `picked` of per-batch tensors laid out like the bank's batches.
    static func gather(_ tensors: [Tensor], _ picked: [Int], bank: ImageBank) -> Tensor {
        let first = tensors[0]
        let per = first.count / max(first.shape[0], 1)
        let out = Tensor(shape: [picked.count] + first.shape.dropFirst())
        for (row, k) in picked.enumerated() {
            let (b, r) = bank.index[k]
            out.data.advanced(by: row * per).update(from: tensors[b].data + r * per, count: per)
        }
        return out
    }
}
