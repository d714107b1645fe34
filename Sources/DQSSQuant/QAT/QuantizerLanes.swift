// QuantizerLanes: the 8-wide SIMD pieces the QAT quantizers' range kernels are written with.
//
// Why explicit SIMD: a scalar loop with a Double accumulator per element (the obvious way to keep sums
// exact) is a serial chain the compiler may not vectorise, and `rounded(.toNearestOrEven)`, `floor` and
// `tanh` are library calls per element on baseline x86-64. Measured on ResNet-20 (dqss-bench qat), these
// loops cost a DSQ step more than its convolutions' whole backward. Here every kernel runs on 8 lanes; its
// sums accumulate per lane in Float over one tile (≤ FusedMixturePass.tile elements, so ≤ 128 adds per
// lane) and are folded into Double at the end of the tile, lanes in fixed order: deterministic, and the
// same whether a tile is run alone or inside a fused mixture.

public typealias Lanes = SIMD8<Float>

/// The tiles of `range`: cut at multiples of `FusedMixturePass.tile` (absolute element index), so a
/// single quantizer's pass and a fused mixture's pass cut a reduction chunk at the same places.
@inline(__always)
func forEachTile(_ range: Range<Int>, _ body: (Range<Int>) -> Void) {
    let size = FusedMixturePass.tile
    var t = range.lowerBound
    while t < range.upperBound {
        let end = min((t / size + 1) * size, range.upperBound)
        body(t ..< end)
        t = end
    }
}

/// Elements i ..< i + n (n ≤ 8) as lanes; missing lanes are 0.
@inline(__always)
func loadLanes(_ p: UnsafePointer<Float>, _ i: Int, _ n: Int) -> Lanes {
    if n == 8 { return UnsafeRawPointer(p + i).loadUnaligned(as: Lanes.self) }
    var v = Lanes()
    for k in 0..<n { v[k] = p[i + k] }
    return v
}

/// Store the first n lanes at i ..< i + n.
@inline(__always)
func storeLanes(_ v: Lanes, _ p: UnsafeMutablePointer<Float>, _ i: Int, _ n: Int) {
    if n == 8 { UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: Lanes.self); return }
    for k in 0..<n { p[i + k] = v[k] }
}

/// y = scale · v, or y += scale · v when accumulating (lanes i ..< i + n).
@inline(__always)
func writeLanes(_ v: Lanes, scale: Float, into y: UnsafeMutablePointer<Float>, _ i: Int, _ n: Int, accumulate: Bool) {
    let out = accumulate ? loadLanes(y, i, n) + scale * v : scale * v
    storeLanes(out, y, i, n)
}

/// y[range] (=, or += with `accumulate`) scale · s · round(clamp(x / s, lo, hi)): the uniform grid of step s
/// (the forward of DSQ's hard grid, PACT and LSQ; round half to even).
@inline(__always)
func uniformGridForward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, range: Range<Int>,
                        step s: Float, lo: Float, hi: Float, scale: Float, accumulate: Bool) {
    var i = range.lowerBound
    while i < range.upperBound {
        let n = min(8, range.upperBound - i)
        let v = s * roundHalfEven(clamp(loadLanes(x, i, n) / s, lo, hi))
        writeLanes(v, scale: scale, into: y, i, n, accumulate: accumulate)
        i += 8
    }
}

/// The lanes' sum in lane order, in Double.
@inline(__always)
func laneSum(_ v: Lanes) -> Double {
    var s = 0.0
    for k in 0..<8 { s += Double(v[k]) }
    return s
}

/// Round half to even per lane, for |v| ≤ 2^22 (see `roundHalfEven(_: Float)`).
@inline(__always)
func roundHalfEven(_ v: Lanes) -> Lanes {
    (v + 12_582_912) - 12_582_912
}

/// min(max(v, lo), hi) per lane, as selects (the standard library's pointwiseMin/Max are not inlined
/// here, a call per use).
@inline(__always)
func clamp(_ v: Lanes, _ lo: Float, _ hi: Float) -> Lanes {
    let m = v.replacing(with: lo, where: v .< lo)
    return m.replacing(with: hi, where: m .> hi)
}

/// floor per lane, for 0 ≤ v ≤ 2^22.
@inline(__always)
func floorLanes(_ v: Lanes) -> Lanes {
    let r = roundHalfEven(v)
    return r.replacing(with: r - 1, where: r .> v)
}

/// tanh per lane: the rational minimax approximation Eigen uses for float (x·P(x²)/Q(x²), |x| clamped to
/// 7.9053, where tanh is 1 in float); measured against tanh in Double over [−9, 9]: relative error
/// ≤ 3.9e-7 (a few ulp). Used only in backward passes (DSQ's surrogate slope), never for a forward value.
@inline(__always)
func tanhLanes(_ v: Lanes) -> Lanes {
    let x = clamp(v, -7.905_311_107_635_498_05, 7.905_311_107_635_498_05)
    let x2 = x * x
    var p = Lanes(repeating: -2.760_768_477_423_55e-16)
    p = p * x2 + 2.000_187_904_824_77e-13
    p = p * x2 - 8.604_671_522_137_35e-11
    p = p * x2 + 5.122_297_090_371_14e-08
    p = p * x2 + 1.485_722_357_179_79e-05
    p = p * x2 + 6.372_619_288_754_36e-04
    p = p * x2 + 4.893_524_558_917_86e-03
    var q = Lanes(repeating: 1.198_258_394_667_02e-06)
    q = q * x2 + 1.185_347_056_866_54e-04
    q = q * x2 + 2.268_434_632_439_00e-03
    q = q * x2 + 4.893_525_185_543_85e-03
    return x * p / q
}
