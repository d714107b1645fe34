// LSQ — Learned Step Size Quantization (Esser et al. 2019), ALGORITHMS.md §4.3.
//
// Learnable per-tensor step s > 0; Q_n = Q_p = Q (signed, narrow range) or Q_n = 0, Q_p = Q (unsigned).
//     v̄ = clamp(v/s, −Q_n, Q_p),  v̂ = round(v̄) · s
//     ∂v̂/∂v = 1 if −Q_n ≤ v/s ≤ Q_p else 0
//     ∂v̂/∂s = round(v/s) − v/s (strictly inside),  −Q_n (v/s ≤ −Q_n),  Q_p (v/s ≥ Q_p)
//     then ∂L/∂s × g,  g = 1/sqrt(N · Q_p),  N = features per sample (default; numel(W) for weights) or the
//     whole batch tensor (`gradientPerBatch`, MQBench).
// Init: s = 2·mean|W|/sqrt(Q_p) (weights), 2·μ_x/sqrt(Q_p) (activations). After each step s ← max(|s|, 1.19e-7).

import Foundation
import DQSSTensor
import DQSSLayers

public final class LSQQuantizer: LearnableQuantizer {
    public var method: QATMethod { .lsq }
    public let role: QuantizerRole
    public let bits: Int
    public var isUnsigned: Bool
    public let gradientPerBatch: Bool
    /// The step s.
    public let step: Parameter
    public var parameters: [(name: String, parameter: Parameter)] { [("s", step)] }

    public init(role: QuantizerRole, bits: Int, unsigned: Bool = false, gradientPerBatch: Bool = false) {
        precondition((2...16).contains(bits), "LSQ bit width \(bits) outside 2...16")
        self.role = role
        self.bits = bits
        self.isUnsigned = role == .weight ? false : unsigned
        self.gradientPerBatch = gradientPerBatch
        step = Parameter(Tensor(shape: [1], repeating: 1), decays: false)
    }

    public var effectiveThreshold: Float { step.value.data[0] * Float(qmax) }

    public func initialize(from statistics: TensorStatistics) {
        step.value.data[0] = max(2 * statistics.meanAbs / Float(qmax).squareRoot(), learnableQuantizerFloor)
    }

    public func projectParameters() {
        step.value.data[0] = max(abs(step.value.data[0]), learnableQuantizerFloor)
    }

    /// g = 1/sqrt(N · Q_p) for a tensor of `count` elements with `samples` rows.
    public func gradientScale(count: Int, samples: Int) -> Double {
        let n = gradientPerBatch ? count : count / max(samples, 1)
        return 1 / (Double(max(n, 1)) * Double(qmax)).squareRoot()
    }

    public func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, range: Range<Int>,
                        scale: Float, accumulate: Bool) {
        let s = step.value.data[0], lo = Float(qmin), hi = Float(qmax)
        uniformGridForward(x, into: y, range: range, step: s, lo: lo, hi: hi, scale: scale, accumulate: accumulate)
    }

    public func backward(_ x: UnsafePointer<Float>, gradOutput g: UnsafePointer<Float>, range: Range<Int>, scale: Float,
                         gradInput dx: UnsafeMutablePointer<Float>?, accumulate: Bool, sums: inout SIMD4<Double>) {
        let s = step.value.data[0], lo = Float(qmin), hi = Float(qmax)
        var dot = Lanes(), ds = Lanes()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = min(8, range.upperBound - i)
            let gv = loadLanes(g, i, n), q = loadLanes(x, i, n) / s
            let rq = roundHalfEven(clamp(q, lo, hi))
            dot += gv * (rq * s)
            // ∂v̂/∂s: round(v/s) − v/s inside, −Q_n / Q_p at the clip ends (the lower end wins, as §4.3 orders it).
            let dsi = (rq - q).replacing(with: hi, where: q .>= hi).replacing(with: lo, where: q .<= lo)
            ds += gv * dsi
            if let dx {
                let e = Lanes().replacing(with: scale * gv, where: (q .>= lo) .& (q .<= hi))
                writeLanes(e, scale: 1, into: dx, i, n, accumulate: accumulate)
            }
            i += 8
        }
        sums[0] += laneSum(dot); sums[1] += laneSum(ds)
    }

    public func finishBackward(_ sums: SIMD4<Double>, x: UnsafePointer<Float>, count: Int, samples: Int, scale: Float,
                               gradInput: UnsafeMutablePointer<Float>?) -> Double {
        if step.requiresGrad {
            step.grad.data[0] += Float(Double(scale) * sums[1] * gradientScale(count: count, samples: samples))
        }
        return sums[0]
    }
}
