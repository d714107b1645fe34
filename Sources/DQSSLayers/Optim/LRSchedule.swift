// Learning-rate schedules as pure functions of time t (epochs or steps, the caller's choice; fractional
// values allowed for per-step updates):
//   constant:  lr = base
//   step:      lr = base · γ^(number of milestones ≤ t)                (PyTorch MultiStepLR)
//   cosine:    lr = min + (base − min) · (1 + cos(π · min(t, T)/T)) / 2 (PyTorch CosineAnnealingLR)
// Optional linear warm-up over the first W units multiplies the above by (t + 1)/W while t < W
// (the main schedule is NOT shifted by the warm-up).

import Foundation

public struct LRSchedule: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case constant
        case step(milestones: [Double], gamma: Float)
        case cosine(total: Double, minimum: Float)
    }

    public var kind: Kind
    public var warmup: Double

    public init(_ kind: Kind, warmup: Double = 0) {
        self.kind = kind
        self.warmup = warmup
    }

    public static let constant = LRSchedule(.constant)

    public static func step(milestones: [Double], gamma: Float = 0.1, warmup: Double = 0) -> LRSchedule {
        LRSchedule(.step(milestones: milestones, gamma: gamma), warmup: warmup)
    }

    public static func cosine(total: Double, minimum: Float = 0, warmup: Double = 0) -> LRSchedule {
        LRSchedule(.cosine(total: total, minimum: minimum), warmup: warmup)
    }

    /// The learning rate at time `t` for a group whose base lr is `base`.
    public func lr(at t: Double, base: Float) -> Float {
        var lr: Double
        switch kind {
        case .constant:
            lr = Double(base)
        case let .step(milestones, gamma):
            let passed = milestones.filter { $0 <= t }.count
            lr = Double(base) * pow(Double(gamma), Double(passed))
        case let .cosine(total, minimum):
            let progress = total > 0 ? min(max(t, 0), total) / total : 1
            lr = Double(minimum) + (Double(base) - Double(minimum)) * (1 + cos(Double.pi * progress)) / 2
        }
        if warmup > 0 && t < warmup { lr *= (t + 1) / warmup }
        return Float(lr)
    }
}
