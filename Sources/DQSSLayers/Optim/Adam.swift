// Adam (Kingma & Ba; PyTorch torch.optim.Adam, amsgrad off), L2 weight decay added to the gradient:
//   g = ∇ + wd · w (decays == true only);  m = β1 m + (1 − β1) g;  v = β2 v + (1 − β2) g²
//   w ← w − lr · (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε)
// t counts steps per parameter (parameters skipped while frozen do not advance). The group's
// `momentum` field is ignored. State (m, v, t) is exposed for checkpoints.

import Foundation
import DQSSTensor

public final class Adam: Optimizer {
    public var groups: [ParameterGroup]
    public let beta1: Float
    public let beta2: Float
    public let eps: Float

    public struct State {
        public var step: Int
        public var expAvg: Tensor
        public var expAvgSq: Tensor
        public init(step: Int, expAvg: Tensor, expAvgSq: Tensor) {
            self.step = step; self.expAvg = expAvg; self.expAvgSq = expAvgSq
        }
    }

    /// Per group, per parameter; nil until its first update.
    public private(set) var states: [[State?]]

    public init(groups: [ParameterGroup], beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) {
        self.groups = groups
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        states = groups.map { [State?](repeating: nil, count: $0.parameters.count) }
    }

    public func step() {
        for gi in groups.indices {
            let group = groups[gi]
            if states[gi].count != group.parameters.count {
                states[gi] = [State?](repeating: nil, count: group.parameters.count)
            }
            for (pi, p) in group.parameters.enumerated() where p.requiresGrad {
                var st = states[gi][pi] ?? State(step: 0, expAvg: Tensor(shape: p.value.shape),
                                                 expAvgSq: Tensor(shape: p.value.shape))
                st.step += 1
                states[gi][pi] = st
                let t = Double(st.step)
                let bc1 = Float(1 - pow(Double(beta1), t)), bc2Sqrt = Float((1 - pow(Double(beta2), t)).squareRoot())
                let stepSize = group.lr / bc1
                let w = p.value.data, g = p.grad.data, m = st.expAvg.data, v = st.expAvgSq.data
                let wd = p.decays ? group.weightDecay : 0, b1 = beta1, b2 = beta2, eps = eps
                parallelRanges(p.value.count, minChunk: 1 << 14) { r in
                    for i in r {
                        let d = g[i] + wd * w[i]
                        m[i] = b1 * m[i] + (1 - b1) * d
                        v[i] = b2 * v[i] + (1 - b2) * d * d
                        w[i] -= stepSize * m[i] / (v[i].squareRoot() / bc2Sqrt + eps)
                    }
                }
            }
        }
    }

    /// Replace the state (from a checkpoint); shapes must match the parameters.
    public func restoreStates(_ newStates: [[State?]]) throws {
        guard newStates.count == groups.count else {
            throw OptimizerStateError("Adam state has \(newStates.count) groups, optimizer has \(groups.count)")
        }
        for (gi, group) in groups.enumerated() {
            guard newStates[gi].count == group.parameters.count else {
                throw OptimizerStateError("Adam state for group '\(group.name)' has \(newStates[gi].count) entries for \(group.parameters.count) parameters")
            }
            for (pi, s) in newStates[gi].enumerated() {
                let shape = group.parameters[pi].value.shape
                if let s, s.expAvg.shape != shape || s.expAvgSq.shape != shape {
                    throw OptimizerStateError("Adam state \(pi) of group '\(group.name)' does not match parameter shape \(shape)")
                }
            }
        }
        states = newStates.map { $0.map { $0.map { State(step: $0.step, expAvg: $0.expAvg.copy(), expAvgSq: $0.expAvgSq.copy()) } } }
    }
}
