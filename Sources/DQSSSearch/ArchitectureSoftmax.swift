// ArchitectureSoftmax: the mixing weights θ of a DQSS layer side and the gradient through them
// (ALGORITHMS.md §5.1, §5.3, §6.2).
//
//     θ_k        = exp(l_k / τ) / Σ_i exp(l_i / τ)          (Eq. 8 read as the standard softmax, §9 #1)
//     ∂L/∂l_k    = (1/τ) · θ_k · ( g_k − Σ_i θ_i g_i )       g_i = ∂L/∂θ_i = ⟨G, Q_i(x)⟩
//
// Computed in Float64: logits ±1e4 then give an exact one-hot θ (exp(−2e4) underflows to 0), which is
// what makes a one-hot mixed layer equal the single-strategy layer bit for bit (§11.7).

import Foundation

/// Softmax over architecture logits and its Jacobian-vector product.
public enum ArchitectureSoftmax {
    /// θ = softmax(logits / τ), max-shifted for stability. Sums to 1 up to Float64 rounding.
    public static func probabilities(_ logits: [Double], temperature: Double = 1) -> [Double] {
        precondition(!logits.isEmpty, "softmax of no logits")
        precondition(temperature > 0, "softmax temperature must be positive (got \(temperature))")
        let m = logits.max()!
        let e = logits.map { exp(($0 - m) / temperature) }
        let z = e.reduce(0, +)
        return e.map { $0 / z }
    }

    /// ∂L/∂l_k from ∂L/∂θ_i through the softmax: (1/τ) θ_k (g_k − Σ_i θ_i g_i).
    ///
    /// Written as (1/τ) θ_k Σ_i θ_i (g_k − g_i) — equal because Σθ = 1, but exactly 0 when all g_i are
    /// equal (identical candidates), whatever the rounding of Σθ.
    public static func logitGradient(theta: [Double], thetaGradient g: [Double],
                                     temperature: Double = 1) -> [Double] {
        precondition(theta.count == g.count, "\(theta.count) mixing weights vs \(g.count) gradients")
        return theta.indices.map { k in
            var s = 0.0
            for i in theta.indices { s += theta[i] * (g[k] - g[i]) }
            return theta[k] * s / temperature
        }
    }

    /// Winner-take-all (Eq. 6): index of the largest logit, ties -> the lowest index (§9 #20).
    public static func argmax<T: Comparable>(_ logits: [T]) -> Int {
        precondition(!logits.isEmpty, "argmax of no logits")
        var best = 0
        for k in logits.indices where logits[k] > logits[best] { best = k }
        return best
    }

    /// The mixing weights of a layer side in `mode`: softmax(logits / τ), the one-hot argmax (Eq. 6), or
    /// 1/N (DQSS-None, §6.1) whatever the logits.
    public static func theta(_ logits: [Double], mode: MixingMode, temperature: Double) -> [Double] {
        switch mode {
        case .soft: return probabilities(logits, temperature: temperature)
        case .uniform: return [Double](repeating: 1 / Double(logits.count), count: logits.count)
        case .winnerTakeAll:
            var t = [Double](repeating: 0, count: logits.count)
            t[argmax(logits)] = 1
            return t
        }
    }
}
