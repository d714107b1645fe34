// MixedQuantKernel: the fused element-wise passes of the DQSS mixture (ALGORITHMS.md §5.1, §5.3).
//
//   forward   x̂[e]  = Σ_k θ_k · Q_k(x[e])                              (Eq. 9)
//   backward  g_k   = ⟨G, Q_k(x)⟩          dx[e] = Σ_k θ_k · STE_k(x[e]) · G[e]
//
// One pass over memory on each side: elements go block by block (1024 floats, L1-resident) and all N
// branches run over the block before the next one, so no N full-size temporaries exist and Q_k(x) is
// recomputed in the backward instead of being stored (memory O(1) in N beyond the mixed output).
// Branches with θ_k = 0 exactly are skipped: they add nothing to x̂ or dx, and their ∂L/∂θ_k enters
// ∂L/∂l only multiplied by θ_k = 0 (see ArchitectureSoftmax). That makes a one-hot mixture run a single
// branch, and its output bit-identical to the single quantizer: the first active branch is *assigned*
// (θ·v with θ = 1 is v, including −0), later ones are added.
//
// Each branch is the §1 quantizer evaluated exactly as UniformQuantizer.fakeQuantize does it:
// s·min(max(round_half_even(x / s), q_min), q_max), with Swift's min/max tie semantics reproduced in the
// SIMD lanes (max(r, lo) = lo >= r ? lo : r, min(m, hi) = hi < m ? hi : m), so values match bit for bit.
// Inner products are summed in 8 Float lanes per block and in Float64 across blocks; blocks are grouped
// into fixed-size tasks whose partial sums are combined in task order (independent of the thread count).

import DQSSTensor
import DQSSQuant

typealias V8 = SIMD8<Float>

/// Per-branch constants, precomputed once per pass.
struct BranchConstants {
    var scale: Float
    var codeLo: Float
    var codeHi: Float
    /// STE range [steLo, steHi] = [−T, T] signed, [0, T] unsigned (§1.2).
    var steLo: Float
    var steHi: Float
    /// T ≤ 2^-24: the all-zero guard, Q(x) = 0.
    var isZero: Bool
    var theta: Float

    /// `threshold`: the branch's own, or one of its per-channel thresholds.
    init(_ b: QuantizerBranch, theta: Float, threshold: Float? = nil) {
        let q = b.quantizer, t = threshold ?? b.threshold
        isZero = UniformQuantizer.isDegenerate(t)
        scale = q.scale(threshold: t)
        codeLo = Float(q.qmin)
        codeHi = Float(q.qmax)
        steHi = t
        steLo = b.isUnsigned ? 0 : -t
        self.theta = theta
    }

    @inline(__always) func quantize(_ x: Float) -> Float {
        if isZero { return 0 }
        return scale * min(max((x / scale).rounded(.toNearestOrEven), codeLo), codeHi)
    }

    @inline(__always) func quantize(_ x: V8) -> V8 {
        if isZero { return V8() }
        let s = V8(repeating: scale), lo = V8(repeating: codeLo), hi = V8(repeating: codeHi)
        let r = (x / s).rounded(.toNearestOrEven)
        let m = r.replacing(with: lo, where: r .<= lo)
        return s * m.replacing(with: hi, where: m .> hi)
    }

    @inline(__always) func inside(_ x: Float) -> Bool { x >= steLo && x <= steHi }
}

/// round-half-to-even(v), bit-identical to `v.rounded(.toNearestOrEven)` (sign of zero included) for
/// every v whose rounded value is later clamped to |q| ≤ 2^16 (the quantizers' code range).
/// Why: without SSE4.1 in the target, `rounded(.toNearestOrEven)` is a libm call per element and the
/// loop does not vectorise. Adding and subtracting 1.5·2^23 rounds |v| < 2^23 to an integer in the
/// default (half-even) mode exactly; larger |v| only matter through the clamp. The sign is restored so
/// that −0.3 rounds to −0 as `rounded` does.
@inline(__always) func roundHalfEven(_ v: Float) -> Float {
    let magic: Float = 12582912   // 1.5 · 2^23
    let r = (abs(v) + magic) - magic
    return Float(signOf: v, magnitudeOf: r)
}

enum MixedQuantKernel {
    static let block = 1024
    /// Elements per parallel task (a multiple of `block`).
    static let task = 1 << 15

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V8 {
        UnsafeRawPointer(p).loadUnaligned(as: V8.self)
    }
    @inline(__always) static func store(_ v: V8, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self)
    }

    /// out[e] = Σ_{k active} θ_k Q_k(x[e]). `active` lists branch indices with θ_k ≠ 0 (non-empty).
    static func forward(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int,
                        branches: [BranchConstants], active: [Int]) {
        precondition(!active.isEmpty, "mixture with no active branch")
        let sel = active.map { branches[$0] }
        sel.withUnsafeBufferPointer { bp in
            let b = bp.baseAddress!, nb = bp.count
            let tasks = (count + task - 1) / task
            runParallel(tasks: tasks) { _, t in
                var start = t * task
                let end = min(count, start + task)
                while start < end {
                    let stop = min(end, start + block)
                    for n in 0..<nb {
                        let br = b[n]
                        // Scalar loops in the exact form of UniformQuantizer.fakeQuantize (LLVM vectorises them).
                        let th = br.theta, s = br.scale, lo = br.codeLo, hi = br.codeHi
                        if br.isZero {
                            if n == 0 { for e in start..<stop { out[e] = th * 0 } }
                            continue
                        }
                        if n == 0 {
                            for e in start..<stop { out[e] = th * (s * min(max(roundHalfEven(x[e] / s), lo), hi)) }
                        } else {
                            for e in start..<stop { out[e] += th * (s * min(max(roundHalfEven(x[e] / s), lo), hi)) }
                        }
                    }
                    start = stop
                }
            }
        }
    }

    /// Returns ⟨g, Q_k(x)⟩ for every branch (0 for inactive ones) and, when `dx` is given, writes
    /// dx[e] = Σ_{k active} θ_k · [x[e] in STE range k] · g[e].
    static func backward(_ x: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>?,
                         count: Int, branches: [BranchConstants], active: [Int]) -> [Double] {
        precondition(!active.isEmpty, "mixture with no active branch")
        let sel = active.map { branches[$0] }
        let nb = sel.count
        let tasks = (count + task - 1) / task
        var partial = [Double](repeating: 0, count: max(tasks, 1) * nb)
        // One block of recomputed Q_k(x) per task (L1-resident scratch).
        var scratch = [Float](repeating: 0, count: max(tasks, 1) * block)
        sel.withUnsafeBufferPointer { bp in
            partial.withUnsafeMutableBufferPointer { pp in
                scratch.withUnsafeMutableBufferPointer { sp in
                    let b = bp.baseAddress!, part = pp.baseAddress!, scr = sp.baseAddress!
                    runParallel(tasks: tasks) { _, t in
                        var start = t * task
                        let end = min(count, start + task)
                        let q = scr + t * block
                        while start < end {
                            let stop = min(end, start + block)
                            let len = stop - start
                            let xs = x + start, gs = g + start
                            for n in 0..<nb {
                                let br = b[n]
                                let th = br.theta, s = br.scale, lo = br.codeLo, hi = br.codeHi
                                if br.isZero {
                                    for e in 0..<len { q[e] = 0 }
                                } else {
                                    for e in 0..<len { q[e] = s * min(max(roundHalfEven(xs[e] / s), lo), hi) }
                                }
                                part[t * nb + n] += Double(vectorSumAndDot(gs, q, len).1)
                                if let dx {
                                    let d = dx + start, tlo = br.steLo, thi = br.steHi
                                    if n == 0 {
                                        for e in 0..<len { d[e] = (xs[e] >= tlo && xs[e] <= thi) ? th * gs[e] : 0 }
                                    } else {
                                        for e in 0..<len { d[e] += (xs[e] >= tlo && xs[e] <= thi) ? th * gs[e] : 0 }
                                    }
                                }
                            }
                            start = stop
                        }
                    }
                }
            }
        }
        var dots = [Double](repeating: 0, count: branches.count)
        for t in 0..<tasks {
            for (n, k) in active.enumerated() { dots[k] += partial[t * nb + n] }
        }
        return dots
    }
}
