// QATSearchSchedule: how DQSS in QAT (ALGORITHMS.md §7) drives α/β over the training epochs.
//
// `paper` (§7.2–7.4 as printed): α/β are SGD parameters of the architecture group (lr 1e-4, momentum 0.9),
// the softmax temperature stays 1 for the whole run, and the network is derived (winner-take-all) only
// after training. Measured (docs/qat.md): after an epoch α/β have moved about 1e-6 from their start, so
// the argmax is float noise and the weights were trained for a mixture that is never deployed.
//
// `annealed` (our default, the QAT counterpart of §6.2): the same epoch budget in two (three) phases.
//   mixture (optional, the first `mixtureEpochs` training epochs, default 0): the weights train under the
//           uniform mixture (τ = 1, α/β frozen at their start), as the paper's schedule does for the whole
//           run. Built to test whether that is why the paper schedule + BN re-estimation is slightly ahead on
//           ResNet-32/44; measured, it is not (docs/qat.md: +0.33/+0.34/−0.40/−1.67 on four models), so it is off;
//   search  (the next `searchEpochs` training epochs): α/β with Adam (a step that does not vanish with
//           the gradient's scale), θ = softmax(logits / τ) with τ = τ_end^(t / searchEpochs), t the
//           fractional training epoch counted from the start of this phase, so the mixture the weights
//           are trained under converges to the one-hot network that will be deployed;
//   derive  (the remaining epochs): winner-take-all, α/β frozen, only the derived network is trained
//           (weights, its quantizers' parameters and BatchNorm statistics for exactly what is exported).
// Every quantity is a function of (epoch, step): a resumed run recomputes it, nothing extra to save but
// Adam's moments.

import Foundation

public struct QATSearchSchedule: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case paper, annealed }
    /// The optimiser of the architecture group (α, β).
    public enum ThetaOptimizer: String, Sendable, CaseIterable { case sgd, adam }

    public var kind: Kind
    /// Training epochs (after the warm-up) of the search phase; the rest train the derived network.
    public var searchEpochs: Int
    /// Final softmax temperature of the search phase (τ_end; 1 = no annealing).
    public var temperatureEnd: Double
    public var thetaOptimizer: ThetaOptimizer
    /// Training epochs before the search phase in which the weights train under the uniform mixture
    /// (τ = 1, α/β frozen); 0 = none (annealed only).
    public var mixtureEpochs: Int

    public init(kind: Kind, searchEpochs: Int, temperatureEnd: Double, thetaOptimizer: ThetaOptimizer,
                mixtureEpochs: Int = 0) {
        precondition(searchEpochs >= 0 && temperatureEnd > 0 && temperatureEnd <= 1 && mixtureEpochs >= 0
                     && (kind == .annealed || mixtureEpochs == 0),
                     "schedule: search epochs \(searchEpochs), τ_end \(temperatureEnd), mixture epochs \(mixtureEpochs)")
        self.kind = kind; self.searchEpochs = searchEpochs
        self.temperatureEnd = temperatureEnd; self.thetaOptimizer = thetaOptimizer
        self.mixtureEpochs = mixtureEpochs
    }

    /// §7 as printed: SGD on α/β, τ = 1, derivation after training.
    public static let paper = QATSearchSchedule(kind: .paper, searchEpochs: .max, temperatureEnd: 1, thetaOptimizer: .sgd)

    /// The default for a budget of `epochs` training epochs: search for half of them (rounded up),
    /// τ_end 0.02 (as the PTQ search, §6.2), Adam on α/β. With `mixtureEpochs` M > 0 the search phase
    /// (default: half of the epochs after the mixture phase, rounded up) starts after M epochs of uniform-mixture training.
    public static func annealed(epochs: Int, searchEpochs: Int? = nil, temperatureEnd: Double = 0.02,
                                mixtureEpochs: Int = 0) -> QATSearchSchedule {
        QATSearchSchedule(kind: .annealed, searchEpochs: searchEpochs ?? (max(epochs - mixtureEpochs, 0) + 1) / 2,
                          temperatureEnd: temperatureEnd, thetaOptimizer: .adam, mixtureEpochs: mixtureEpochs)
    }

    /// "paper", "annealed (search S epochs, τ_end T, Adam)" or, with a mixture phase,
    /// "annealed (mixture M epochs, search S epochs, τ_end T, Adam)". Checkpoints compare it on resume.
    public var description: String {
        if kind == .paper { return "paper" }
        let mixture = mixtureEpochs > 0 ? "mixture \(mixtureEpochs) epochs, " : ""
        return "annealed (\(mixture)search \(searchEpochs) epochs, τ_end \(temperatureEnd), \(thetaOptimizer.rawValue))"
    }

    /// Default lr of the architecture group for this schedule (paper: 1e-4 SGD; annealed: 1e-2 Adam).
    public var defaultThetaLR: Float { thetaOptimizer == .adam ? 1e-2 : 1e-4 }

    /// Softmax temperature at fractional training epoch `t` (0 at the end of the warm-up): 1 through the
    /// mixture phase, then τ_end^(s / searchEpochs), s the epochs since the search phase began.
    public func temperature(atTrainingEpoch t: Double) -> Double {
        guard kind == .annealed, temperatureEnd < 1, t >= Double(mixtureEpochs) else { return 1 }
        guard searchEpochs > 0 else { return temperatureEnd }
        let s = t - Double(mixtureEpochs)
        return pow(temperatureEnd, min(s, Double(searchEpochs)) / Double(searchEpochs))
    }

    /// True in the mixture phase: the weights train under the uniform mixture, α/β do not move.
    public func isMixture(atTrainingEpoch t: Double) -> Bool {
        kind == .annealed && t < Double(mixtureEpochs)
    }

    /// True once the search phase is over: the network runs (and trains) as the derived one.
    public func isDerived(atTrainingEpoch t: Double) -> Bool {
        kind == .annealed && t >= Double(mixtureEpochs + searchEpochs)
    }
}
