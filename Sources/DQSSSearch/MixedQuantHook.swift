// MixedQuantHook: one side of the DQSS operator (ALGORITHMS.md §5), as a TensorHook on a Conv2d/Linear.
//
//     activation side (α):  Â = Σ_i θ^α_i Q^A_i(A)        weight side (β):  Ŵ = Σ_j θ^β_j Q^W_j(W)
//     θ = softmax(logits / τ)                              (Eq. 8 as a softmax, §9 #1; τ = 1 in the paper)
//
// Installed as `inputHook` (activation side) and `weightHook` (weight side) of the same layer, the layer
// then runs ONE convolution Ŵ * Â (Eq. 10) and hands G_Â, G_Ŵ back to the hooks, which compute (§5.3)
//
//     ∂L/∂θ_i = ⟨G, Q_i(x)⟩     ∂L/∂l_k = (1/τ) θ_k (∂L/∂θ_k − Σ_i θ_i ∂L/∂θ_i)     (accumulated, +=)
//     ∂L/∂x   = Σ_i θ_i · STE_i ⊙ G
//
// Forward and backward are single fused passes (MixedQuantKernel); Q_i(x) is recomputed in the backward,
// so the hook keeps only a reference to its input and its output buffer, whatever N is.
// A branch with AdaRound's rounding (weights) is not a function of x alone but of the element index:
// hooks with such a branch take the plain path (RoundedMixture below: one full-size temporary per pass,
// Q_k computed by QuantizerBranch.quantize), which only weights take, and weights are small.
// Modes: `.soft` (the search), `.winnerTakeAll` (θ = e_argmax, Eq. 6: the derived network, ties ->
// lowest index), `.uniform` (θ = 1/N, DQSS-None, §6.1). Logit gradients are accumulated in `.soft` mode
// only (the other two do not depend on the logits).
// Straight-through Gumbel sampling (`gumbelNoise`, issue 18; PTQSearch's `--gumbel-straight-through`): in
// `.soft` mode with noise g set, the forward runs the ONE branch k* = argmax(l/τ + g) (a sample of θ, the
// Gumbel-max trick), and the backward sends the gradient through the relaxed sample y = softmax(l/τ + g):
//
//     ∂L/∂l_k = (1/τ) y_k (g_k − Σ_i y_i g_i),   g_i = ⟨G, Q_i(x)⟩ for EVERY branch, at the one-hot forward
//
// (hard forward, soft backward, as GDAS). The loss then sees the discrete network the derived one will be.

import DQSSTensor
import DQSSLayers

public final class MixedQuantHook: TensorHook, ArchitectureMixture {
    public let side: QuantizationSide
    /// The N candidates, in the fixed order [Max_Abs, KL, EQ, ADMM] for PTQ.
    public let branches: [QuantizerBranch]
    /// α (activation side) or β (weight side), shape [N]; init 0.1 each (θ = 1/N).
    public let logits: Parameter
    /// Softmax temperature τ > 0 (1 = the paper; annealed towards 0.02 by the §6.2 schedule).
    public var temperature: Double = 1 {
        didSet { precondition(temperature > 0, "temperature must be positive (got \(temperature))") }
    }
    public var mode: MixingMode = .soft
    /// False skips ∂L/∂x (frozen PTQ weights): the backward then returns a zero tensor and only
    /// accumulates the logit gradient.
    public var needsInputGradient = true
    /// Straight-through Gumbel sampling: one Gumbel(0, 1) draw per branch, used by the forward and backward
    /// in `.soft` mode (file header); nil runs the plain mixture.
    public var gumbelNoise: [Double]? {
        didSet { precondition(gumbelNoise.map { $0.count == count && $0.allSatisfy(\.isFinite) } ?? true,
                              "Gumbel noise needs \(count) finite values (got \(gumbelNoise ?? []))") }
    }
    /// ∂L/∂θ_i = ⟨G, Q_i(x)⟩ of the last backward (0 for branches with θ_i = 0).
    public private(set) var lastThetaGradient: [Double]

    private var savedInput: Tensor?
    private var savedTheta: [Double] = []
    /// y = softmax(l/τ + g) of a straight-through sample's forward, nil otherwise.
    private var savedRelaxed: [Double]?
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    /// One branch's Q_k(x) at a time, for hooks with an AdaRound branch (RoundedMixture).
    private let roundedScratch = Tensor(shape: [0])

    public init(side: QuantizationSide, branches: [QuantizerBranch], initialLogit: Float = 0.1) {
        precondition(!branches.isEmpty, "a mixed quantizer needs at least one branch")
        self.side = side
        self.branches = branches
        logits = Parameter(Tensor(shape: [branches.count], repeating: initialLogit), decays: false)
        lastThetaGradient = [Double](repeating: 0, count: branches.count)
    }

    /// The slices quantized with one set of thresholds, each with every branch's threshold there: the whole
    /// tensor, or (any branch with per-channel thresholds) each output channel W[c, ...] with every T_c.
    private func slices(_ x: Tensor, _ theta: [Double]) -> [(offset: Int, count: Int, branches: [BranchConstants])] {
        RoundedMixture.slices(x, branches).map { s in
            (s.offset, s.count, zip(branches, theta).map {
                BranchConstants($0, theta: Float($1), threshold: RoundedMixture.threshold($0, s.channel))
            })
        }
    }

    private var hasRounding: Bool { branches.contains { $0.rounding != nil } }

    /// The relaxed sample y and the one-hot θ of its argmax, when a straight-through sample runs.
    private func sample() -> (relaxed: [Double], oneHot: [Double])? {
        guard mode == .soft, let g = gumbelNoise else { return nil }
        let y = ArchitectureSoftmax.probabilities(zip(logitValues, g).map { $0 + temperature * $1 }, temperature: temperature)
        var hot = [Double](repeating: 0, count: count)
        hot[ArchitectureSoftmax.argmax(y)] = 1
        return (y, hot)
    }

    public func forward(_ x: Tensor) -> Tensor {
        let s = sample()
        let th = s?.oneHot ?? theta
        savedInput = x
        savedTheta = th
        savedRelaxed = s?.relaxed
        output.resize(to: x.shape)
        let active = th.indices.filter { Float(th[$0]) != 0 }
        if hasRounding {
            RoundedMixture.forward(x, output, branches: branches, theta: th, active: active, scratch: roundedScratch)
            return output
        }
        for s in slices(x, th) {
            MixedQuantKernel.forward(x.data + s.offset, output.data + s.offset, count: s.count, branches: s.branches, active: active)
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let x = savedInput else { preconditionFailure("MixedQuantHook.backward before forward") }
        precondition(gradOutput.count == x.count, "MixedQuantHook.backward: gradient \(gradOutput.shape) vs input \(x.shape)")
        gradInput.resize(to: x.shape)
        // A straight-through sample needs ⟨G, Q_i(x)⟩ of every branch; the θ = 0 ones add nothing to ∂L/∂x.
        let active = savedRelaxed != nil ? Array(savedTheta.indices) : savedTheta.indices.filter { Float(savedTheta[$0]) != 0 }
        var dots = [Double](repeating: 0, count: count)
        if hasRounding {
            dots = RoundedMixture.backward(x, gradOutput, needsInputGradient ? gradInput : nil, branches: branches,
                                           theta: savedTheta, active: active, scratch: roundedScratch)
        } else {
        for s in slices(x, savedTheta) {
            let d = MixedQuantKernel.backward(x.data + s.offset, gradOutput.data + s.offset,
                                              needsInputGradient ? gradInput.data + s.offset : nil,
                                              count: s.count, branches: s.branches, active: active)
            for k in dots.indices { dots[k] += d[k] }
        }
        }
        lastThetaGradient = dots
        if !needsInputGradient { gradInput.zero() }
        if mode == .soft && logits.requiresGrad {
            let dl = ArchitectureSoftmax.logitGradient(theta: savedRelaxed ?? savedTheta, thetaGradient: dots, temperature: temperature)
            for k in 0..<count { logits.grad.data[k] += Float(dl[k]) }
        }
        return gradInput
    }
}

/// The mixture computed branch by branch (a branch with a rounding mask needs the element index).
enum RoundedMixture {
    /// Each slice quantized with one threshold per branch: the whole tensor, or each output channel.
    static func slices(_ x: Tensor, _ branches: [QuantizerBranch]) -> [(offset: Int, count: Int, channel: Int?)] {
        guard let channels = branches.lazy.compactMap(\.channelThresholds?.count).first else { return [(0, x.count, nil)] }
        precondition(x.shape.first == channels && branches.allSatisfy { ($0.channelThresholds?.count ?? channels) == channels },
                     "MixedQuantHook: per-channel thresholds of \(channels) channels for a tensor \(x.shape)")
        let per = x.count / max(channels, 1)
        return (0..<channels).map { ($0 * per, per, $0) }
    }

    static func threshold(_ b: QuantizerBranch, _ channel: Int?) -> Float {
        channel.map { b.threshold(channel: $0) } ?? b.threshold
    }

    static func forward(_ x: Tensor, _ out: Tensor, branches: [QuantizerBranch], theta: [Double], active: [Int], scratch q: Tensor) {
        precondition(!active.isEmpty, "mixture with no active branch")
        q.resize(to: x.shape)
        out.zero()
        for k in active {
            for s in slices(x, branches) {
                branches[k].quantize(x.data + s.offset, into: q.data + s.offset, count: s.count, offset: s.offset,
                                     threshold: threshold(branches[k], s.channel))
            }
            let th = Float(theta[k])
            for e in 0..<x.count { out.data[e] += th * q.data[e] }
        }
    }

    static func backward(_ x: Tensor, _ g: Tensor, _ dx: Tensor?, branches: [QuantizerBranch], theta: [Double],
                         active: [Int], scratch q: Tensor) -> [Double] {
        q.resize(to: x.shape)
        var dots = [Double](repeating: 0, count: branches.count)
        dx?.zero()
        for k in active {
            let b = branches[k], th = Float(theta[k])
            for s in slices(x, branches) {
                let t = threshold(b, s.channel)
                b.quantize(x.data + s.offset, into: q.data + s.offset, count: s.count, offset: s.offset, threshold: t)
                var dot = 0.0
                for e in s.offset..<(s.offset + s.count) { dot += Double(g.data[e] * q.data[e]) }
                dots[k] += dot
                if let dx {
                    let lo: Float = b.isUnsigned ? 0 : -t
                    for e in s.offset..<(s.offset + s.count) where x.data[e] >= lo && x.data[e] <= t {
                        dx.data[e] += th * g.data[e]
                    }
                }
            }
        }
        return dots
    }
}
