// SIMD helpers for the element-wise and reduction loops of layers (BatchNorm, ReLU, residual adds).
//
// Why: Swift (like C without -ffast-math) will not vectorise a float reduction `s += p[i]`, because
// that would reorder the sums; a serial chain runs at one add per FP latency (~4 cycles). These helpers
// sum in 2×8 independent lanes in a fixed order (results are deterministic and independent of threads),
// about 10× faster. Select-style loops (`y > 0 ? g : 0`) are written with SIMD masks so that random
// signs cost no branch mispredictions.

@usableFromInline typealias V8 = SIMD8<Float>

@inline(__always) @usableFromInline
func load8(_ p: UnsafePointer<Float>) -> V8 { UnsafeRawPointer(p).loadUnaligned(as: V8.self) }

@inline(__always) @usableFromInline
func store8(_ v: V8, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self) }

/// Σ p[i] for i < n, in 16 lanes then a fixed-order combine.
@inlinable
public func vectorSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var a = V8(), b = V8()
    var i = 0
    while i + 16 <= n { a += load8(p + i); b += load8(p + i + 8); i += 16 }
    if i + 8 <= n { a += load8(p + i); i += 8 }
    var s = (a + b).sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

/// Σ (p[i] − c)² for i < n.
@inlinable
public func vectorSumSquaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, from c: Float) -> Float {
    var a = V8(), b = V8()
    let cv = V8(repeating: c)
    var i = 0
    while i + 16 <= n {
        let d0 = load8(p + i) - cv, d1 = load8(p + i + 8) - cv
        a += d0 * d0; b += d1 * d1; i += 16
    }
    if i + 8 <= n { let d = load8(p + i) - cv; a += d * d; i += 8 }
    var s = (a + b).sum()
    while i < n { let d = p[i] - c; s += d * d; i += 1 }
    return s
}

/// (Σ g[i], Σ g[i]·h[i]) for i < n.
@inlinable
public func vectorSumAndDot(_ g: UnsafePointer<Float>, _ h: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
    var s0 = V8(), s1 = V8(), d0 = V8(), d1 = V8()
    var i = 0
    while i + 16 <= n {
        let g0 = load8(g + i), g1 = load8(g + i + 8)
        s0 += g0; s1 += g1
        d0 += g0 * load8(h + i); d1 += g1 * load8(h + i + 8)
        i += 16
    }
    if i + 8 <= n { let g0 = load8(g + i); s0 += g0; d0 += g0 * load8(h + i); i += 8 }
    var s = (s0 + s1).sum(), d = (d0 + d1).sum()
    while i < n { s += g[i]; d += g[i] * h[i]; i += 1 }
    return (s, d)
}

/// dst[i] = max(src[i], 0).
@inlinable
public func vectorReLU(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    let zero = V8()
    var i = 0
    while i + 8 <= n { let v = load8(src + i); store8(v.replacing(with: 0, where: v .< zero), dst + i); i += 8 }
    while i < n { dst[i] = max(src[i], 0); i += 1 }
}

/// dx[i] = y[i] > 0 ? g[i] : 0 (branch-free).
@inlinable
public func vectorReLUBackward(_ y: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
                               _ dx: UnsafeMutablePointer<Float>, _ n: Int) {
    let zero = V8()
    var i = 0
    while i + 8 <= n {
        store8(load8(g + i).replacing(with: 0, where: .!(load8(y + i) .> zero)), dx + i)
        i += 8
    }
    while i < n { dx[i] = y[i] > 0 ? g[i] : 0; i += 1 }
}
