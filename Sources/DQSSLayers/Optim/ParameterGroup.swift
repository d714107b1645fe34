// ParameterGroup: parameters that share optimizer settings (PyTorch param_groups). dqss uses two in the
// DQSS search: the network weights and the architecture logits alpha/beta, each with its own lr.

import DQSSTensor

public struct ParameterGroup {
    public var name: String
    public var parameters: [Parameter]
    /// The learning rate used by the next `step()`; `setEpoch` overwrites it from `schedule`.
    public var lr: Float
    /// The lr the schedule scales (the lr given at construction).
    public var baseLR: Float
    public var momentum: Float
    /// L2 weight decay, applied only to parameters with `decays == true`.
    public var weightDecay: Float
    public var nesterov: Bool
    public var schedule: LRSchedule

    public init(name: String, parameters: [Parameter], lr: Float, momentum: Float = 0.9,
                weightDecay: Float = 0, nesterov: Bool = false, schedule: LRSchedule = .constant) {
        self.name = name
        self.parameters = parameters
        self.lr = lr
        self.baseLR = lr
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        self.schedule = schedule
    }
}

/// Shared by SGD and Adam.
public protocol Optimizer: AnyObject {
    var groups: [ParameterGroup] { get set }
    /// Update every parameter with requiresGrad from its accumulated gradient.
    func step()
}

extension Optimizer {
    /// Set each group's lr from its schedule at time `t` (epochs, fractional values allowed).
    public func setEpoch(_ t: Double) {
        for i in groups.indices { groups[i].lr = groups[i].schedule.lr(at: t, base: groups[i].baseLR) }
    }

    /// Zero the gradients of every parameter in every group.
    public func zeroGradients() {
        for g in groups { for p in g.parameters { p.grad.zero() } }
    }
}

/// Thrown when restored optimizer state does not fit the groups.
public struct OptimizerStateError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
