// DoReFa (Zhou et al. 2016), ALGORITHMS.md §4.1. No learnable parameters.
//
// Weights (default, symmetric, rescaled):
//     t = tanh(W),  m = max|t|,  w̃ = t / m ∈ [−1, 1]
//     ŵ = c · clamp(round(w̃ · Q), −Q, Q) / Q          c = stop_gradient(max|W|)  (1 with rescale off)
//   original (`originalWeights`): ŵ = c · (2 · round(n · (w̃/2 + 1/2)) / n − 1),  n = 2^b − 1
//   backward: STE through round, autograd through tanh and through the normaliser m:
//     ∂L/∂t_k = (c/m) · g_k − [k = argmax|t|] · sign(t_k) · (c/m²) · Σ_i g_i t_i   (× 2/2 for original)
//     ∂L/∂W_k = ∂L/∂t_k · (1 − t_k²)
// Activations: x̃ = clamp(x, 0, 1) (unsigned) or clamp(x, −1, 1) (signed), x̂ = round(x̃ · Q) / Q,
//   ∂x̂/∂x = 1 inside the range (inclusive), 0 outside.
// Rounding is half to even (§1.3).

import Foundation
import DQSSTensor
import DQSSLayers

public final class DoReFaQuantizer: LearnableQuantizer {
    public let method: QATMethod
    public let role: QuantizerRole
    public let bits: Int
    public var isUnsigned: Bool
    public let originalWeights: Bool
    public let rescale: Bool
    public var parameters: [(name: String, parameter: Parameter)] { [] }
    /// max|W| of the last weight forward (the rescale c).
    private var lastMaxAbs: Float = 1

    /// `method` is `.pact` when DoReFa serves as PACT's weight branch (`--pact-weights dorefa`).
    public init(role: QuantizerRole, bits: Int, unsigned: Bool = false, originalWeights: Bool = false,
                rescale: Bool = true, method: QATMethod = .dorefa) {
        precondition((2...16).contains(bits), "DoReFa bit width \(bits) outside 2...16")
        self.method = method
        self.role = role
        self.bits = bits
        self.isUnsigned = role == .weight ? false : unsigned
        self.originalWeights = originalWeights
        self.rescale = rescale
    }

    public var effectiveThreshold: Float { role == .weight ? (rescale ? lastMaxAbs : 1) : 1 }

    public func initialize(from statistics: TensorStatistics) {}
    public func projectParameters() {}

    /// (max|W|, max|tanh W|, index of the first element reaching it).
    private func weightNormaliser(_ x: UnsafePointer<Float>, count: Int) -> (c: Float, m: Float, argmax: Int) {
        var mx: Float = 0, arg = 0
        for i in 0..<count where abs(x[i]) > mx { mx = abs(x[i]); arg = i }
        return (rescale ? mx : 1, tanh(mx), arg)
    }

    public func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int,
                        scale: Float, accumulate: Bool) {
        if role == .weight {
            let (c, m, _) = weightNormaliser(x, count: count)
            lastMaxAbs = c
            if m == 0 {   // W = 0: ŵ = 0 (symmetric) — the original variant has no zero level either way
                if !accumulate { y.update(repeating: 0, count: count) }
                return
            }
            let original = originalWeights
            let q = Float(qmax), n = Float((1 << bits) - 1)
            elementwise(count) { r in
                for i in r {
                    let w = tanh(x[i]) / m
                    let v: Float = original ? c * (2 * ((n * (w / 2 + 0.5)).rounded(.toNearestOrEven)) / n - 1)
                                            : c * (min(max((w * q).rounded(.toNearestOrEven), -q), q) / q)
                    y[i] = accumulate ? y[i] + scale * v : scale * v
                }
            }
        } else {
            let q = Float(qmax), lo: Float = isUnsigned ? 0 : -1
            elementwise(count) { r in
                for i in r {
                    let v = (min(max(x[i], lo), 1) * q).rounded(.toNearestOrEven) / q
                    y[i] = accumulate ? y[i] + scale * v : scale * v
                }
            }
        }
    }

    public func backward(_ x: UnsafePointer<Float>, gradOutput g: UnsafePointer<Float>, count: Int, samples: Int,
                         scale: Float, gradInput dx: UnsafeMutablePointer<Float>?, accumulate: Bool) -> Double {
        if role == .weight {
            let (c, m, arg) = weightNormaliser(x, count: count)
            if m == 0 {
                if let dx, !accumulate { dx.update(repeating: 0, count: count) }
                return 0
            }
            let original = originalWeights
            let q = Float(qmax), n = Float((1 << bits) - 1)
            // ⟨g, ŵ⟩ and Σ g_i t_i in one pass.
            let s = chunkedSum(count) { r in
                var dot = 0.0, gt = 0.0
                for i in r {
                    let t = tanh(x[i]), w = t / m
                    let v: Float = original ? c * (2 * ((n * (w / 2 + 0.5)).rounded(.toNearestOrEven)) / n - 1)
                                            : c * (min(max((w * q).rounded(.toNearestOrEven), -q), q) / q)
                    dot += Double(g[i]) * Double(v)
                    gt += Double(g[i]) * Double(t)
                }
                return SIMD4(dot, gt, 0, 0)
            }
            guard let dx else { return s[0] }
            let k = scale * c / m
            elementwise(count) { r in
                for i in r {
                    let t = tanh(x[i])
                    let d = k * g[i] * (1 - t * t)
                    dx[i] = accumulate ? dx[i] + d : d
                }
            }
            // The normaliser's path reaches only the argmax element (one scalar correction).
            let t = tanh(x[arg])
            let sign: Float = t >= 0 ? 1 : -1
            dx[arg] -= Float(Double(scale * c / (m * m)) * s[1]) * sign * (1 - t * t)
            return s[0]
        } else {
            let q = Float(qmax), lo: Float = isUnsigned ? 0 : -1
            let s = chunkedSum(count) { r in
                var dot = 0.0
                for i in r {
                    let xi = x[i]
                    let v = (min(max(xi, lo), 1) * q).rounded(.toNearestOrEven) / q
                    dot += Double(g[i]) * Double(v)
                    if let dx {
                        let d: Float = (xi >= lo && xi <= 1) ? scale * g[i] : 0
                        dx[i] = accumulate ? dx[i] + d : d
                    }
                }
                return SIMD4(dot, 0, 0, 0)
            }
            return s[0]
        }
    }
}
