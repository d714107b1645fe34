// SGD with momentum, L2 weight decay and optional Nesterov momentum (PyTorch torch.optim.SGD, dampening 0):
//   d = g + wd · w              (wd only for parameters with decays == true)
//   buf = d on the first step, then buf = μ · buf + d
//   d = d + μ · buf (Nesterov) or d = buf
//   w ← w − lr · d
// Parameters with requiresGrad == false are skipped. Momentum buffers belong to the optimizer and are
// exposed for checkpoints (`momentumBuffers`, `restoreMomentumBuffers`).

import DQSSTensor

public final class SGD: Optimizer {
    public var groups: [ParameterGroup]
    /// One buffer per parameter per group; nil until that parameter's first update.
    public private(set) var momentumBuffers: [[Tensor?]]

    public init(groups: [ParameterGroup]) {
        self.groups = groups
        momentumBuffers = groups.map { [Tensor?](repeating: nil, count: $0.parameters.count) }
    }

    public func step() {
        for gi in groups.indices {
            let group = groups[gi]
            if momentumBuffers[gi].count != group.parameters.count {
                momentumBuffers[gi] = [Tensor?](repeating: nil, count: group.parameters.count)
            }
            for (pi, p) in group.parameters.enumerated() where p.requiresGrad {
                let count = p.value.count
                let w = p.value.data, g = p.grad.data
                let wd = p.decays ? group.weightDecay : 0, mu = group.momentum, lr = group.lr
                if mu == 0 {
                    parallelRanges(count, minChunk: 1 << 14) { r in
                        for i in r { w[i] -= lr * (g[i] + wd * w[i]) }
                    }
                    continue
                }
                let first = momentumBuffers[gi][pi] == nil
                if first { momentumBuffers[gi][pi] = Tensor(shape: p.value.shape) }
                let buf = momentumBuffers[gi][pi]!.data, nesterov = group.nesterov
                parallelRanges(count, minChunk: 1 << 14) { r in
                    for i in r {
                        let d = g[i] + wd * w[i]
                        let b = first ? d : mu * buf[i] + d
                        buf[i] = b
                        w[i] -= lr * (nesterov ? d + mu * b : b)
                    }
                }
            }
        }
    }

    /// Replace the momentum buffers (from a checkpoint); shapes must match the parameters.
    public func restoreMomentumBuffers(_ buffers: [[Tensor?]]) throws {
        guard buffers.count == groups.count else {
            throw OptimizerStateError("SGD state has \(buffers.count) groups, optimizer has \(groups.count)")
        }
        for (gi, group) in groups.enumerated() {
            guard buffers[gi].count == group.parameters.count else {
                throw OptimizerStateError("SGD state for group '\(group.name)' has \(buffers[gi].count) buffers for \(group.parameters.count) parameters")
            }
            for (pi, b) in buffers[gi].enumerated() {
                if let b, b.shape != group.parameters[pi].value.shape {
                    throw OptimizerStateError("SGD momentum buffer \(pi) of group '\(group.name)' has shape \(b.shape), parameter has \(group.parameters[pi].value.shape)")
                }
            }
        }
        momentumBuffers = buffers.map { $0.map { $0?.copy() } }
    }
}
