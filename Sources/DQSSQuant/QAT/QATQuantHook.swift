// QATQuantHook: one learnable QAT quantizer (§4) on a Conv2d/Linear input or weight (TensorHook).
//
// Forward x̂ = Q(x), backward dx = J(x) ⊙ G plus the quantizer's parameter gradients (§4). While
// `observing` (the warm-up of §7.3) every forward first folds x into the running statistics
// (TensorStatistics: EMA of max|x| and mean|x|, momentum 0.9; weights: W's own statistics) and re-derives
// the quantizer's data-dependent parameters from them, so fake quantization runs "with the running
// estimates"; activations become unsigned when every observed value was ≥ 0 (§1.1).

import DQSSTensor
import DQSSLayers

public final class QATQuantHook: TensorHook {
    public let quantizer: any LearnableQuantizer
    /// Warm-up observation (§7.3); off during training and evaluation.
    public var observing = false
    /// Set under mpirun with --sync-bn: every observed batch is combined over the ranks before it is folded in.
    public var observationReducer: (any ObservationReducer)?
    public private(set) var statistics = TensorStatistics()
    private var savedInput: Tensor?
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    public init(quantizer: any LearnableQuantizer) {
        self.quantizer = quantizer
    }

    /// Restore observed statistics (checkpoints).
    public func restoreStatistics(_ s: TensorStatistics) { statistics = s }

    public func forward(_ x: Tensor) -> Tensor {
        if observing {
            QATQuantHook.observe(x, role: quantizer.role, statistics: &statistics, quantizers: [quantizer],
                                 reducer: observationReducer)
        }
        savedInput = x
        output.resize(to: x.shape)
        quantizer.forward(x.data, into: output.data, count: x.count, scale: 1, accumulate: false)
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let x = savedInput else { preconditionFailure("QATQuantHook.backward before forward") }
        precondition(gradOutput.count == x.count, "QATQuantHook.backward: gradient \(gradOutput.shape) vs input \(x.shape)")
        gradInput.resize(to: x.shape)
        _ = quantizer.backward(x.data, gradOutput: gradOutput.data, count: x.count,
                               samples: quantizer.role == .weight ? 1 : (x.shape.first ?? 1),
                               scale: 1, gradInput: gradInput.data, accumulate: false)
        return gradInput
    }

    /// Warm-up step shared with the DQSS mixture: fold `x` into `statistics` (activations: EMA; weights:
    /// replaced by W's statistics), set the activation signedness, re-initialise every quantizer.
    /// `reducer`: activations only (weights are identical on every replica), the batch combined over replicas.
    public static func observe(_ x: Tensor, role: QuantizerRole, statistics: inout TensorStatistics,
                               quantizers: [any LearnableQuantizer], reducer: (any ObservationReducer)? = nil) {
        if role == .weight {
            statistics = TensorStatistics.of(x)
        } else {
            let local = BatchObservation(x.data, count: x.count)
            statistics.fold(reducer.map { $0.combine(local) } ?? local)
        }
        initialize(quantizers, role: role, from: statistics)
    }

    /// Initialise `quantizers` from observed `statistics` (activations: signedness first, then the
    /// data-dependent parameters) — after each warm-up observation, and again after the statistics were
    /// combined over ranks.
    public static func initialize(_ quantizers: [any LearnableQuantizer], role: QuantizerRole, from statistics: TensorStatistics) {
        for q in quantizers {
            if role == .activation { q.isUnsigned = statistics.isNonNegative }
            q.initialize(from: statistics)
        }
    }
}
