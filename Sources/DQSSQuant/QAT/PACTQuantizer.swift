// PACT — Parameterised Clipping Activation (Choi et al. 2018), ALGORITHMS.md §4.4.
//
// Learnable clip a > 0 per tensor:
//     y = clamp(x, 0, a) (unsigned) or clamp(x, −a, a) (signed);  x̂ = round(y · Q/a) · a/Q
//       (computed as the §1 quantizer with T = a: s·clamp(round(x/s), q_min, q_max), s = a/Q)
//     ∂x̂/∂x = 1 inside the clip range (lower end inclusive, x < a), else 0
//     ∂x̂/∂a = 1 if x ≥ a;  −1 if x ≤ −a (signed only);  0 otherwise   (rounding error ignored)
// Weights (default): the same rule applied symmetrically to W with its own clip a_w (§4.4, §9 #17).
// Init: a = M_x (warm-up; or a fixed value, `--pact-init`), a_w = max|W|. `a` takes the network's L2
// weight decay (decays = true). After each step a ← max(|a|, 1.19e-7).

import Foundation
import DQSSTensor
import DQSSLayers

public final class PACTQuantizer: LearnableQuantizer {
    public var method: QATMethod { .pact }
    public let role: QuantizerRole
    public let bits: Int
    public var isUnsigned: Bool
    /// Fixed activation init (the PACT paper's 10, MQBench's 6); nil = observed M_x.
    public let fixedInit: Float?
    /// The clip a (a_w on the weight side).
    public let clip: Parameter
    public var parameters: [(name: String, parameter: Parameter)] { [("a", clip)] }

    public init(role: QuantizerRole, bits: Int, unsigned: Bool = false, fixedInit: Float? = nil) {
        precondition((2...16).contains(bits), "PACT bit width \(bits) outside 2...16")
        self.role = role
        self.bits = bits
        self.isUnsigned = role == .weight ? false : unsigned
        self.fixedInit = fixedInit
        clip = Parameter(Tensor(shape: [1], repeating: fixedInit ?? 1), decays: true)
    }

    public var effectiveThreshold: Float { clip.value.data[0] }

    public func initialize(from statistics: TensorStatistics) {
        clip.value.data[0] = max(fixedInit ?? statistics.maxAbs, learnableQuantizerFloor)
    }

    public func projectParameters() {
        clip.value.data[0] = max(abs(clip.value.data[0]), learnableQuantizerFloor)
    }

    public func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, range: Range<Int>,
                        scale: Float, accumulate: Bool) {
        let s = clip.value.data[0] / Float(qmax), lo = Float(qmin), hi = Float(qmax)
        uniformGridForward(x, into: y, range: range, step: s, lo: lo, hi: hi, scale: scale, accumulate: accumulate)
    }

    public func backward(_ x: UnsafePointer<Float>, gradOutput g: UnsafePointer<Float>, range: Range<Int>, scale: Float,
                         gradInput dx: UnsafeMutablePointer<Float>?, accumulate: Bool, sums: inout SIMD4<Double>) {
        let a = clip.value.data[0]
        let s = a / Float(qmax), lo = Float(qmin), hi = Float(qmax)
        let low: Float = isUnsigned ? 0 : -a, signed = !isUnsigned
        var dot = Lanes(), da = Lanes()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = min(8, range.upperBound - i)
            let xv = loadLanes(x, i, n), gv = loadLanes(g, i, n)
            dot += gv * (s * roundHalfEven(clamp(xv / s, lo, hi)))
            // ∂x̂/∂a: +1 at or above a, −1 at or below −a (signed only); ∂x̂/∂x: 1 in between (x ≥ low).
            let above = xv .>= a
            let below = signed ? (xv .<= low) .& .!above : SIMDMask<SIMD8<Int32>>(repeating: false)
            da += Lanes().replacing(with: gv, where: above).replacing(with: -gv, where: below)
            if let dx {
                let e = Lanes().replacing(with: scale * gv, where: .!above .& .!below .& (xv .>= low))
                writeLanes(e, scale: 1, into: dx, i, n, accumulate: accumulate)
            }
            i += 8
        }
        sums[0] += laneSum(dot); sums[1] += laneSum(da)
    }

    public func finishBackward(_ sums: SIMD4<Double>, x: UnsafePointer<Float>, count: Int, samples: Int, scale: Float,
                               gradInput: UnsafeMutablePointer<Float>?) -> Double {
        if clip.requiresGrad { clip.grad.data[0] += Float(Double(scale) * sums[1]) }
        return sums[0]
    }
}
