// UniformQuantizer: the symmetric, per-tensor, zero-point-free quantizer of ALGORITHMS.md §1, shared by
// every PTQ candidate. A candidate only chooses the threshold T; this type turns T into codes and
// fake-quantized values.
//
//     q_max = 2^(b − 1 + u) − 1,  q_min = u ? 0 : −q_max   (narrow signed range, [−127, 127] at 8 bits)
//     s     = T / q_max
//     x_q   = clamp(round(x / s), q_min, q_max)          round = half to even (§1.3)
//     x̂     = s · x_q
//
// Guard: T ≤ 2^-24 (or not finite-positive) means an all-zero tensor: x̂ = 0, s := 1.
// Backward (§1.2, straight-through with clipping): ∂x̂/∂x = 1 where q_min·s ≤ x ≤ q_max·s, i.e.
// |x| ≤ T (signed) or 0 ≤ x ≤ T (unsigned), else 0. The mask is stated with T itself (as
// pytorch-quantization does) so that it does not depend on the rounding of s·q_max.

import DQSSTensor

public struct UniformQuantizer: Sendable, Hashable, CustomStringConvertible {
    /// Bit width b (2...16; 2–8 are the ones the spec uses).
    public let bits: Int
    /// u = 1: non-negative tensors (activations fed by ReLU), codes in [0, q_max].
    public let isUnsigned: Bool

    /// Thresholds at or below this are treated as an all-zero tensor (§1.1 guard).
    public static let zeroThreshold: Float = 0x1p-24

    public init(bits: Int, unsigned: Bool = false) {
        precondition((2...16).contains(bits), "quantizer bit width \(bits) outside 2...16")
        self.bits = bits
        self.isUnsigned = unsigned
    }

    /// q_max = 2^(b − 1 + u) − 1: 127 signed / 255 unsigned at 8 bits, 7 / 15 at 4 bits.
    public var qmax: Int { (1 << (bits - 1 + (isUnsigned ? 1 : 0))) - 1 }
    /// q_min = 0 unsigned, −q_max signed (narrow range).
    public var qmin: Int { isUnsigned ? 0 : -qmax }

    /// True when T is treated as "all zero" (T ≤ 2^-24, or NaN).
    @inlinable public static func isDegenerate(_ threshold: Float) -> Bool {
        !(threshold > zeroThreshold)
    }

    /// s = T / q_max (1 under the all-zero guard).
    public func scale(threshold: Float) -> Float {
        Self.isDegenerate(threshold) ? 1 : threshold / Float(qmax)
    }

    /// x̂ = s · clamp(round(x / s), q_min, q_max) for `count` values; `src` and `dst` may alias.
    /// Split over the threads for large tensors; each element is computed independently.
    public func fakeQuantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>,
                             count: Int, threshold: Float) {
        if Self.isDegenerate(threshold) {
            dst.update(repeating: 0, count: count)
            return
        }
        let s = scale(threshold: threshold)
        let lo = Float(qmin), hi = Float(qmax)
        parallelRanges(count, minChunk: 1 << 16) { r in
            for i in r {
                let q = min(max((src[i] / s).rounded(.toNearestOrEven), lo), hi)
                dst[i] = s * q
            }
        }
    }

    /// Fake-quantize `x` into `out` (resized to x's shape). `out` may be `x` itself.
    public func fakeQuantize(_ x: Tensor, threshold: Float, into out: Tensor) {
        if out !== x { out.resize(to: x.shape) }
        fakeQuantize(x.data, into: out.data, count: x.count, threshold: threshold)
    }

    /// A new tensor holding x̂.
    public func fakeQuantized(_ x: Tensor, threshold: Float) -> Tensor {
        let out = Tensor(shape: x.shape)
        fakeQuantize(x, threshold: threshold, into: out)
        return out
    }

    /// The integer codes x_q = clamp(round(x / s), q_min, q_max) (all 0 under the guard).
    public func codes(_ x: Tensor, threshold: Float) -> [Int32] {
        if Self.isDegenerate(threshold) { return [Int32](repeating: 0, count: x.count) }
        let s = scale(threshold: threshold)
        let lo = Float(qmin), hi = Float(qmax)
        var out = [Int32](repeating: 0, count: x.count)
        let p = x.data
        for i in 0..<x.count { out[i] = Int32(min(max((p[i] / s).rounded(.toNearestOrEven), lo), hi)) }
        return out
    }

    /// Straight-through backward: dx = dx̂ where the input was inside [q_min·s, q_max·s] (|x| ≤ T
    /// signed, 0 ≤ x ≤ T unsigned), else 0. `dst` may alias `gradOutput`.
    public func steBackward(input x: UnsafePointer<Float>, gradOutput g: UnsafePointer<Float>,
                            into dst: UnsafeMutablePointer<Float>, count: Int, threshold: Float) {
        let hi = threshold
        let lo = isUnsigned ? 0 : -threshold
        parallelRanges(count, minChunk: 1 << 16) { r in
            for i in r { dst[i] = (x[i] >= lo && x[i] <= hi) ? g[i] : 0 }
        }
    }

    /// The STE mask (1 inside the clipping range, 0 outside) as floats, for tests and diagnostics.
    public func steMask(_ x: Tensor, threshold: Float) -> [Float] {
        let ones = [Float](repeating: 1, count: x.count)
        var out = [Float](repeating: 0, count: x.count)
        ones.withUnsafeBufferPointer { o in
            out.withUnsafeMutableBufferPointer { d in
                steBackward(input: x.data, gradOutput: o.baseAddress!, into: d.baseAddress!,
                            count: x.count, threshold: threshold)
            }
        }
        return out
    }

    public var description: String { "\(bits)-bit \(isUnsigned ? "unsigned" : "signed")" }
}
