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

    /// The weight normaliser of the current pass: (max|W| or 1, max|tanh W|, index of the first element
    /// reaching max|W|), set by `beginPass`.
    private var normaliser: (c: Float, m: Float, argmax: Int) = (1, 1, 0)

    public func beginPass(_ x: UnsafePointer<Float>, count: Int) {
        guard role == .weight else { return }
        var mx: Float = 0, arg = 0
        for i in 0..<count where abs(x[i]) > mx { mx = abs(x[i]); arg = i }
        normaliser = (rescale ? mx : 1, tanh(mx), arg)
        lastMaxAbs = normaliser.c
    }

    /// ŵ for w = tanh(W)/max|tanh W| (§4.1: symmetric levels, or the original paper's 2^b levels).
    @inline(__always)
    private func weightLevel(_ w: Float, c: Float, q: Float, n: Float) -> Float {
        originalWeights ? c * (2 * roundHalfEven(n * (w / 2 + 0.5)) / n - 1)
                        : c * (roundHalfEven(min(max(w * q, -q), q)) / q)
    }

    public func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, range: Range<Int>,
                        scale: Float, accumulate: Bool) {
        if role == .weight {
            let (c, m, _) = normaliser
            if m == 0 {   // W = 0: ŵ = 0 (symmetric) — the original variant has no zero level either way
                if !accumulate { for i in range { y[i] = 0 } }
                return
            }
            let q = Float(qmax), n = Float((1 << bits) - 1)
            for i in range {
                let v = weightLevel(tanh(x[i]) / m, c: c, q: q, n: n)
                y[i] = accumulate ? y[i] + scale * v : scale * v
            }
        } else {
            let q = Float(qmax), lo: Float = isUnsigned ? 0 : -1
            var i = range.lowerBound
            while i < range.upperBound {
                let n = min(8, range.upperBound - i)
                let v = roundHalfEven(clamp(loadLanes(x, i, n), lo, 1) * q) / q
                writeLanes(v, scale: scale, into: y, i, n, accumulate: accumulate)
                i += 8
            }
        }
    }

    public func backward(_ x: UnsafePointer<Float>, gradOutput g: UnsafePointer<Float>, range: Range<Int>, scale: Float,
                         gradInput dx: UnsafeMutablePointer<Float>?, accumulate: Bool, sums: inout SIMD4<Double>) {
        if role == .weight {
            let (c, m, _) = normaliser
            if m == 0 {
                if let dx, !accumulate { for i in range { dx[i] = 0 } }
                return
            }
            let q = Float(qmax), n = Float((1 << bits) - 1), k = scale * c / m
            // ⟨g, ŵ⟩, Σ g_i t_i (for the normaliser's term) and dx in one pass.
            var dot = sums[0], gt = sums[1]
            for i in range {
                let t = tanh(x[i])
                let v = weightLevel(t / m, c: c, q: q, n: n)
                dot += Double(g[i]) * Double(v)
                gt += Double(g[i]) * Double(t)
                if let dx {
                    let d = k * g[i] * (1 - t * t)
                    dx[i] = accumulate ? dx[i] + d : d
                }
            }
            sums[0] = dot; sums[1] = gt
        } else {
            let q = Float(qmax), lo: Float = isUnsigned ? 0 : -1
            var dot = Lanes()
            var i = range.lowerBound
            while i < range.upperBound {
                let n = min(8, range.upperBound - i)
                let xv = loadLanes(x, i, n), gv = loadLanes(g, i, n)
                dot += gv * (roundHalfEven(clamp(xv, lo, 1) * q) / q)
                if let dx {
                    let e = Lanes().replacing(with: scale * gv, where: (xv .>= lo) .& (xv .<= 1))
                    writeLanes(e, scale: 1, into: dx, i, n, accumulate: accumulate)
                }
                i += 8
            }
            sums[0] += laneSum(dot)
        }
    }

    public func finishBackward(_ sums: SIMD4<Double>, x: UnsafePointer<Float>, count: Int, samples: Int, scale: Float,
                               gradInput dx: UnsafeMutablePointer<Float>?) -> Double {
        let (c, m, arg) = normaliser
        guard role == .weight, m != 0, let dx else { return sums[0] }
        // The normaliser's path reaches only the argmax element (one scalar correction).
        let t = tanh(x[arg])
        let sign: Float = t >= 0 ? 1 : -1
        dx[arg] -= Float(Double(scale * c / (m * m)) * sums[1]) * sign * (1 - t * t)
        return sums[0]
    }
}
