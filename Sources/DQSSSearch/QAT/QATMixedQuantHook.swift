// QATMixedQuantHook: one side of the DQSS operator in QAT (ALGORITHMS.md §5, §7.1–7.2), as a TensorHook.
//
//     activation side (α):  Â = Σ_i θ^α_i Q^A_i(A)          weight side (β):  Ŵ = Σ_j θ^β_j Q^W_j(W)   (Eq. 11)
//     θ = softmax(logits / τ)                                (§5.1; τ = 1 in the paper)
//
// The candidates are learnable QAT quantizers (DoReFa, DSQ, LSQ, PACT, each with its own parameters).
// On the weight side every branch reads the SAME tensor W (Eq. 11: the layer's one trainable weight), so
// one backward produces, in a single pass per branch (§5.3, §7.2):
//     ∂L/∂x      = Σ_k θ_k · J_k(x) ⊙ G                    (into the shared W, or into the layer input)
//     ∂L/∂p_k   += θ_k · Σ_e G_e ∂Q_k(x_e)/∂p_k           (each candidate's own parameters, upstream θ_k G)
//     ∂L/∂θ_k    = ⟨G, Q_k(x)⟩,  ∂L/∂l_k = (1/τ) θ_k (∂L/∂θ_k − Σ_i θ_i ∂L/∂θ_i)   (ArchitectureSoftmax)
// Q_k(x) is recomputed in the backward (the hook stores only a reference to x and its output buffer). All
// branches run in one tiled pass over the tensor (FusedMixturePass).
// Branches with θ_k = 0 are skipped; the first active branch is assigned, the others added, so a one-hot
// θ gives the lone candidate's output bit for bit (§11.7). Modes as MixedQuantHook: `.soft` (training),
// `.winnerTakeAll` (the derived network, §7.4), `.uniform` (θ = 1/N).
// While `observing` (warm-up, §7.3), the input is folded into the running statistics and every branch is
// re-initialised from them before quantizing.

import DQSSTensor
import DQSSLayers
import DQSSQuant

public final class QATMixedQuantHook: QATObservingHook, ArchitectureMixture {
    public let side: QuantizerRole
    /// The N candidates, in the fixed order [DoReFa, DSQ, LSQ, PACT].
    public let branches: [any LearnableQuantizer]
    /// α (activation side) or β (weight side), shape [N]; init 0.1 each (θ = 1/N).
    public let logits: Parameter
    public var temperature: Double = 1 {
        didSet { precondition(temperature > 0, "temperature must be positive (got \(temperature))") }
    }
    public var mode: MixingMode = .soft
    /// Warm-up observation (§7.3).
    public var observing = false
    /// Run the branches in one tiled pass over the tensor (FusedMixturePass, default) instead of one full pass
    /// per branch: the same values (see FusedMixturePass), fewer reads of memory. Off only to measure it.
    public var fusesBranches = true
    /// Set under mpirun with --sync-bn: every observed batch is combined over the ranks before it is folded in.
    public var observationReducer: (any ObservationReducer)?
    public private(set) var statistics = TensorStatistics()
    /// ∂L/∂θ_k = ⟨G, Q_k(x)⟩ of the last backward (0 for inactive branches).
    public private(set) var lastThetaGradient: [Double]

    private var savedInput: Tensor?
    private var savedTheta: [Double] = []
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    public init(side: QuantizerRole, branches: [any LearnableQuantizer], initialLogit: Float = 0.1) {
        precondition(!branches.isEmpty, "a mixed quantizer needs at least one branch")
        precondition(branches.allSatisfy { $0.role == side }, "every branch must sit on the \(side) side")
        self.side = side
        self.branches = branches
        logits = Parameter(Tensor(shape: [branches.count], repeating: initialLogit), decays: false)
        lastThetaGradient = [Double](repeating: 0, count: branches.count)
    }

    public var quantizers: [any LearnableQuantizer] { branches }

    /// Every branch parameter with a local name "<method>.<name>" ("lsq.s", "pact.a", ...).
    public var quantizerParameters: [(name: String, parameter: Parameter)] {
        branches.flatMap { b in b.parameters.map { (name: b.method.rawValue + "." + $0.name, parameter: $0.parameter) } }
    }

    /// Restore observed statistics (checkpoints).
    public func restoreStatistics(_ s: TensorStatistics) { statistics = s }

    public func forward(_ x: Tensor) -> Tensor {
        if observing {
            QATQuantHook.observe(x, role: side, statistics: &statistics, quantizers: branches, reducer: observationReducer)
        }
        let th = theta
        savedInput = x
        savedTheta = th
        output.resize(to: x.shape)
        if fusesBranches {
            FusedMixturePass.forward(branches, theta: th, x: x.data, into: output.data, count: x.count)
            return output
        }
        var first = true
        for (b, t) in zip(branches, th) where t != 0 {
            b.forward(x.data, into: output.data, count: x.count, scale: Float(t), accumulate: !first)
            first = false
        }
        if first { output.zero() }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let x = savedInput else { preconditionFailure("QATMixedQuantHook.backward before forward") }
        precondition(gradOutput.count == x.count, "QATMixedQuantHook.backward: gradient \(gradOutput.shape) vs input \(x.shape)")
        gradInput.resize(to: x.shape)
        let samples = side == .weight ? 1 : (x.shape.first ?? 1)
        var dots = [Double](repeating: 0, count: count)
        if fusesBranches {
            dots = FusedMixturePass.backward(branches, theta: savedTheta, x: x.data, gradOutput: gradOutput.data,
                                             count: x.count, samples: samples, gradInput: gradInput.data)
        } else {
            var first = true
            for (k, b) in branches.enumerated() where savedTheta[k] != 0 {
                dots[k] = b.backward(x.data, gradOutput: gradOutput.data, count: x.count, samples: samples,
                                     scale: Float(savedTheta[k]), gradInput: gradInput.data, accumulate: !first)
                first = false
            }
            if first { gradInput.zero() }
        }
        lastThetaGradient = dots
        if mode == .soft && logits.requiresGrad {
            let dl = ArchitectureSoftmax.logitGradient(theta: savedTheta, thetaGradient: dots, temperature: temperature)
            for k in 0..<count { logits.grad.data[k] += Float(dl[k]) }
        }
        return gradInput
    }
}
