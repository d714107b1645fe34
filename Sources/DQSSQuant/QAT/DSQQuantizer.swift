// DSQ — Differentiable Soft Quantization (Gong et al. 2019), ALGORITHMS.md §4.2.
//
// Learnable per tensor: the upper clip u (l = −u signed, l = 0 unsigned) and the shape α_dsq.
//     n   = 2Q (signed) or Q (unsigned) intervals,  Δ = (u − l)/n,  x_c = clamp(x, l, u)
//     i   = min(floor((x_c − l)/Δ), n − 1)  (held constant),  m_i = l + (i + ½)Δ
//     L   = ln(2/α − 1),  k = L/Δ,  s_t = 1/(1 − α),  z = k(x_c − m_i)
//     soft(x) = l + Δ(i + ½) + (Δ/2) · s_t · tanh(z)
//     hard(x) = the §1 round-to-nearest quantizer on [l, u] (= soft with tanh → sign)
//   forward x̂ = hard(x);  backward = the gradients of soft (x̂ = hard + soft − stop_gradient(soft)):
//     ∂soft/∂x = (s_t L / 2) · sech²(z)                                    (l < x < u, else 0)
//     ∂soft/∂u = −σ + (Δ/u)(i + ½) + (Δ/2u) s_t tanh z + (Δ/2) s_t sech²(z) · L · (σ/Δ − r/u)
//                with σ = 1 signed / 0 unsigned, r = (x − l)/Δ;  x ≥ u: 1,  x ≤ l: −σ
//     ∂soft/∂α = (Δ/2) · (s_t² tanh z + s_t sech²(z) · (r − i − ½) · dL/dα),  dL/dα = −2/(α(2 − α));  0 clipped
// (At the clip points soft = u resp. l exactly, because s_t tanh(L/2) = 1.)
// Init: α = 0.2, u = max|W| (weights) / M_x (activations). After each step α is clamped to [0.01, 0.99]
// and u kept positive.

import Foundation
import DQSSTensor
import DQSSLayers

/// Scalar types the surrogate formulas are written for (Float in the kernels, Double in the tests).
public protocol SurrogateScalar: BinaryFloatingPoint {
    static func tanhOf(_ x: Self) -> Self
    static func logOf(_ x: Self) -> Self
}
extension Float: SurrogateScalar {
    @inline(__always) public static func tanhOf(_ x: Float) -> Float { tanh(x) }
    @inline(__always) public static func logOf(_ x: Float) -> Float { log(x) }
}
extension Double: SurrogateScalar {
    @inline(__always) public static func tanhOf(_ x: Double) -> Double { tanh(x) }
    @inline(__always) public static func logOf(_ x: Double) -> Double { log(x) }
}

public final class DSQQuantizer: LearnableQuantizer {
    public var method: QATMethod { .dsq }
    public let role: QuantizerRole
    public let bits: Int
    public var isUnsigned: Bool
    /// Upper clip u.
    public let upper: Parameter
    /// Shape parameter α_dsq.
    public let alpha: Parameter
    public var parameters: [(name: String, parameter: Parameter)] { [("u", upper), ("alpha", alpha)] }

    public init(role: QuantizerRole, bits: Int, unsigned: Bool = false, initialAlpha: Float = 0.2) {
        precondition((2...16).contains(bits), "DSQ bit width \(bits) outside 2...16")
        self.role = role
        self.bits = bits
        self.isUnsigned = role == .weight ? false : unsigned
        upper = Parameter(Tensor(shape: [1], repeating: 1), decays: false)
        alpha = Parameter(Tensor(shape: [1], repeating: initialAlpha), decays: false)
    }

    public var effectiveThreshold: Float { upper.value.data[0] }
    /// Number of intervals n.
    public var intervals: Int { isUnsigned ? qmax : 2 * qmax }

    public func initialize(from statistics: TensorStatistics) {
        upper.value.data[0] = max(statistics.maxAbs, learnableQuantizerFloor)
    }

    public func projectParameters() {
        upper.value.data[0] = max(abs(upper.value.data[0]), learnableQuantizerFloor)
        alpha.value.data[0] = min(max(alpha.value.data[0], 0.01), 0.99)
    }

    /// The per-tensor constants of the surrogate (computed once per pass, not per element).
    public struct SoftConstants<T: SurrogateScalar> {
        public let u: T, l: T, sigma: T, n: T, delta: T, logTerm: T, st: T, dLogTerm: T
        @inlinable
        public init(u: T, alpha: T, intervals: Int, signed: Bool) {
            self.u = u
            sigma = signed ? 1 : 0
            l = -sigma * u
            n = T(intervals)
            delta = (u - l) / n
            logTerm = T.logOf(2 / alpha - 1)
            st = 1 / (1 - alpha)
            dLogTerm = -2 / (alpha * (2 - alpha))
        }
    }

    /// soft(x) and its partial derivatives (∂x, ∂u, ∂α) for one element — the surrogate of §4.2 with the
    /// interval index held constant. `Double` in tests, `Float` in the kernel.
    @inlinable
    public static func soft<T: SurrogateScalar>(_ x: T, u: T, alpha: T, intervals n: Int, signed: Bool)
        -> (value: T, dx: T, du: T, dalpha: T) {
        soft(x, SoftConstants(u: u, alpha: alpha, intervals: n, signed: signed))
    }

    @inlinable
    public static func soft<T: SurrogateScalar>(_ x: T, _ c: SoftConstants<T>) -> (value: T, dx: T, du: T, dalpha: T) {
        let u = c.u, l = c.l, sigma = c.sigma, delta = c.delta, L = c.logTerm, st = c.st
        if x >= u { return (u, 0, 1, 0) }
        if x <= l { return (l, 0, -sigma, 0) }
        let r = (x - l) / delta
        let i = min(r.rounded(.down), c.n - 1)
        let w = r - i - T(0.5)
        let z = L * w
        let th = T.tanhOf(z)
        let sech2 = 1 - th * th
        let mid: T = l + delta * (i + T(0.5))
        let half = delta / 2
        let value: T = mid + half * st * th
        let dx: T = st * L / 2 * sech2
        let du1: T = delta / u * (i + T(0.5))
        let du2: T = half / u * st * th
        let dr: T = sigma / delta - r / u
        let du3: T = half * st * sech2 * L * dr
        let du: T = du1 + du2 + du3 - sigma
        let da1: T = st * st * th
        let da2: T = st * sech2 * w * c.dLogTerm
        let dalpha: T = half * (da1 + da2)
        return (value, dx, du, dalpha)
    }

    /// ∂soft/∂x, ∂soft/∂u, ∂soft/∂α for 8 elements: `soft(_:_:)`'s derivatives per lane (the clip ends
    /// selected per lane, floor and tanh in lane arithmetic — tanh to a few ulp, see `tanhLanes`).
    @inline(__always)
    public static func softSlopes(_ x: Lanes, _ c: SoftConstants<Float>) -> (dx: Lanes, du: Lanes, dalpha: Lanes) {
        let above = x .>= c.u, below = x .<= c.l, outside = above .| below
        let r = clamp((x - c.l) / c.delta, 0, c.n)
        let f = floorLanes(r), i = f.replacing(with: c.n - 1, where: f .> c.n - 1)
        let w = r - i - 0.5
        let th = tanhLanes(c.logTerm * w)
        let sech2 = 1 - th * th
        let half = c.delta / 2
        let dx = (c.st * c.logTerm / 2) * sech2
        let du1 = (c.delta / c.u) * (i + 0.5)
        let du2 = (half / c.u * c.st) * th
        let dr = c.sigma / c.delta - r / c.u
        let du3 = (half * c.st * c.logTerm) * sech2 * dr
        let du = du1 + du2 + du3 - c.sigma
        let dalpha = half * (c.st * c.st * th + (c.st * c.dLogTerm) * sech2 * w)
        return (dx.replacing(with: 0, where: outside),
                du.replacing(with: 1, where: above).replacing(with: -c.sigma, where: below),
                dalpha.replacing(with: 0, where: outside))
    }

    public func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, range: Range<Int>,
                        scale: Float, accumulate: Bool) {
        let u = upper.value.data[0]
        let s = u / Float(qmax), lo = Float(qmin), hi = Float(qmax)
        uniformGridForward(x, into: y, range: range, step: s, lo: lo, hi: hi, scale: scale, accumulate: accumulate)
    }

    public func backward(_ x: UnsafePointer<Float>, gradOutput g: UnsafePointer<Float>, range: Range<Int>, scale: Float,
                         gradInput dx: UnsafeMutablePointer<Float>?, accumulate: Bool, sums: inout SIMD4<Double>) {
        let u = upper.value.data[0], a = alpha.value.data[0]
        let s = u / Float(qmax), lo = Float(qmin), hi = Float(qmax)
        let constants = SoftConstants<Float>(u: u, alpha: a, intervals: intervals, signed: !isUnsigned)
        var dot = Lanes(), du = Lanes(), da = Lanes()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = min(8, range.upperBound - i)
            let xv = loadLanes(x, i, n), gv = loadLanes(g, i, n)
            dot += gv * (s * roundHalfEven(clamp(xv / s, lo, hi)))
            let d = Self.softSlopes(xv, constants)
            du += gv * d.du
            da += gv * d.dalpha
            if let dx { writeLanes(gv * d.dx, scale: scale, into: dx, i, n, accumulate: accumulate) }
            i += 8
        }
        sums[0] += laneSum(dot); sums[1] += laneSum(du); sums[2] += laneSum(da)
    }

    public func finishBackward(_ sums: SIMD4<Double>, x: UnsafePointer<Float>, count: Int, samples: Int, scale: Float,
                               gradInput: UnsafeMutablePointer<Float>?) -> Double {
        if upper.requiresGrad { upper.grad.data[0] += Float(Double(scale) * sums[1]) }
        if alpha.requiresGrad { alpha.grad.data[0] += Float(Double(scale) * sums[2]) }
        return sums[0]
    }
}
