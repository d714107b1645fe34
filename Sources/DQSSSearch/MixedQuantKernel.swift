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

    init(_ b: QuantizerBranch, theta: Float) {
        let q = b.quantizer
        isZero = UniformQuantizer.isDegenerate(b.threshold)
        scale = q.scale(threshold: b.threshold)
        codeLo = Float(q.qmin)
        codeHi = Float(q.qmax)
        steHi = b.threshold
        steLo = b.isUnsigned ? 0 : -b.threshold
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
                        let th = V8(repeating: br.theta)
                        var e = start
                        if n == 0 {
                            while e + 8 <= stop { store(th * br.quantize(load(x + e)), out + e); e += 8 }
                            while e < stop { out[e] = br.theta * br.quantize(x[e]); e += 1 }
                        } else {
                            while e + 8 <= stop { store(load(out + e) + th * br.quantize(load(x + e)), out + e); e += 8 }
                            while e < stop { out[e] += br.theta * br.quantize(x[e]); e += 1 }
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
        sel.withUnsafeBufferPointer { bp in
            partial.withUnsafeMutableBufferPointer { pp in
                let b = bp.baseAddress!, part = pp.baseAddress!
                runParallel(tasks: tasks) { _, t in
                    var start = t * task
                    let end = min(count, start + task)
                    let zero = V8()
                    while start < end {
                        let stop = min(end, start + block)
                        for n in 0..<nb {
                            let br = b[n]
                            let th = V8(repeating: br.theta)
                            let lo = V8(repeating: br.steLo), hi = V8(repeating: br.steHi)
                            var acc0 = V8(), acc1 = V8()
                            var e = start
                            while e + 16 <= stop {
                                let x0 = load(x + e), x1 = load(x + e + 8)
                                let g0 = load(g + e), g1 = load(g + e + 8)
                                acc0 += g0 * br.quantize(x0)
                                acc1 += g1 * br.quantize(x1)
                                if let dx {
                                    let c0 = (th * g0).replacing(with: zero, where: .!((x0 .>= lo) .& (x0 .<= hi)))
                                    let c1 = (th * g1).replacing(with: zero, where: .!((x1 .>= lo) .& (x1 .<= hi)))
                                    if n == 0 { store(c0, dx + e); store(c1, dx + e + 8) }
                                    else { store(load(dx + e) + c0, dx + e); store(load(dx + e + 8) + c1, dx + e + 8) }
                                }
                                e += 16
                            }
                            var s = (acc0 + acc1).sum()
                            while e < stop {
                                s += g[e] * br.quantize(x[e])
                                if let dx {
                                    let c: Float = br.inside(x[e]) ? br.theta * g[e] : 0
                                    if n == 0 { dx[e] = c } else { dx[e] += c }
                                }
                                e += 1
                            }
                            part[t * nb + n] += Double(s)
                        }
                        start = stop
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
