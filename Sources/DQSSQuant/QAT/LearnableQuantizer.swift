// LearnableQuantizer: the contract shared by the four QAT candidates of ALGORITHMS.md §4 (DoReFa, DSQ,
// LSQ, PACT), so that a single-candidate hook (QATQuantHook) and the DQSS mixture of §5/§7 drive them the
// same way.
//
// A quantizer is per tensor (§1.4) and sits on one side of one layer (§4.5: every layer gets its own
// activation copy and its own weight copy). Its forward is the candidate's hard (fake-quantized) value;
// its backward is the candidate's STE / soft derivative (§1.2, §4), and it accumulates (+=) the gradients
// of its own learnable scalars (LSQ s, PACT a, DSQ u and α_dsq) into their `Parameter.grad`.
//
// Both passes take a mixing weight `scale` (θ_k of a DQSS branch, 1 for a lone quantizer) so that a
// mixture needs no temporaries (§5.3: "each candidate's parameter gradient is computed with its own
// upstream gradient θ·G"):
//     forward   y  = scale · Q(x)          (or y += scale · Q(x) when accumulating)
//     backward  dx = scale · J(x) ⊙ g      (or dx += ...),   ∂L/∂p += scale · Σ_e g_e ∂Q(x_e)/∂p
// and the backward returns ⟨g, Q(x)⟩ (unscaled), which the mixture needs for ∂L/∂θ (§5.3).
// With scale 1 the forward writes Q(x) itself (1·v = v exactly), so a one-hot mixture equals the lone
// quantizer bit for bit (§11.7).

import DQSSTensor
import DQSSLayers

/// Which quantization point of a layer a quantizer sits on (§2.1).
public enum QuantizerRole: String, Sendable, Codable {
    /// The layer's input activation A.
    case activation
    /// The layer's weight W (always signed).
    case weight
}

public protocol LearnableQuantizer: AnyObject {
    var method: QATMethod { get }
    var role: QuantizerRole { get }
    /// Bit width b (4 in the QAT experiments, 8 for the first/last layer, §2.2).
    var bits: Int { get }
    /// Unsigned range (activations fed by ReLU, decided by the warm-up observation, §1.1).
    var isUnsigned: Bool { get set }
    /// The candidate's own learnable scalars by local name ("s", "a", "u", "alpha"); empty for DoReFa.
    var parameters: [(name: String, parameter: Parameter)] { get }
    /// The clipping threshold T the quantizer currently uses (for reports and assignments): DoReFa 1
    /// (activations) or max|W| (rescaled weights), DSQ u, LSQ s·Q_p, PACT a.
    var effectiveThreshold: Float { get }

    /// Set the data-dependent initial values (§4 "Init", §7.3 warm-up) from observed statistics.
    func initialize(from statistics: TensorStatistics)

    // A pass over a tensor is written as ranges, so that a DQSS mixture can run every branch over the same
    // tile of x while it is in cache (FusedMixturePass: one read of x, Â accumulated in place) and a lone
    // quantizer runs the same code over the whole tensor (`forward(_:into:count:...)` below). Serial: the
    // caller splits the tensor over the threads.

    /// Per-tensor constants of the next pass over `x` (DoReFa's max|W|); once before the ranges of a pass.
    func beginPass(_ x: UnsafePointer<Float>, count: Int)

    /// y = scale · Q(x) over `range` (y += scale · Q(x) when `accumulate`), after `beginPass`.
    func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, range: Range<Int>,
                 scale: Float, accumulate: Bool)

    /// The backward over `range` (at most one tile, see `forEachTile`), after `beginPass`: dx = scale · J ⊙ g
    /// written (or added) into `gradInput` when given; the range's sums added to `sums` — [0] = ⟨g, Q(x)⟩,
    /// then the candidate's own parameter sums (unscaled). Callers cut a reduction chunk into the same tiles
    /// whether the quantizer runs alone or in a fused mixture, so both give the same sums.
    func backward(_ x: UnsafePointer<Float>, gradOutput g: UnsafePointer<Float>, range: Range<Int>, scale: Float,
                  gradInput: UnsafeMutablePointer<Float>?, accumulate: Bool, sums: inout SIMD4<Double>)

    /// After every range of a backward: add the parameter gradients (scale · sums, when they require grad),
    /// apply any whole-tensor term of dx (DoReFa's normaliser), return ⟨g, Q(x)⟩. `samples` is the leading
    /// (batch) dimension of x (1 for weights): LSQ's gradient scale uses the features per sample (§4.3).
    func finishBackward(_ sums: SIMD4<Double>, x: UnsafePointer<Float>, count: Int, samples: Int, scale: Float,
                        gradInput: UnsafeMutablePointer<Float>?) -> Double

    /// Keep parameters in their valid domain after an optimizer step (LSQ s ≥ 1.19e-7, DSQ α in
    /// [0.01, 0.99], positive clips).
    func projectParameters()
}

extension LearnableQuantizer {
    /// y = scale · Q(x) for `count` elements (y += scale · Q(x) when `accumulate`), split over the threads.
    public func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int,
                        scale: Float, accumulate: Bool) {
        beginPass(x, count: count)
        elementwise(count) { r in forward(x, into: y, range: r, scale: scale, accumulate: accumulate) }
    }

    /// Backward for upstream gradient `scale · g`: writes (or adds, when `accumulate`) dx = scale · J ⊙ g
    /// into `gradInput` when given, adds the parameter gradients (when they require grad), and returns
    /// ⟨g, Q(x)⟩. Sums over the fixed chunks of `reductionChunks(count)`, independent of the thread count.
    public func backward(_ x: UnsafePointer<Float>, gradOutput g: UnsafePointer<Float>, count: Int, samples: Int,
                         scale: Float, gradInput: UnsafeMutablePointer<Float>?, accumulate: Bool) -> Double {
        beginPass(x, count: count)
        let sums = chunkedSum(count) { r in
            var s = SIMD4<Double>()
            forEachTile(r) { t in
                backward(x, gradOutput: g, range: t, scale: scale, gradInput: gradInput, accumulate: accumulate, sums: &s)
            }
            return s
        }
        return finishBackward(sums, x: x, count: count, samples: samples, scale: scale, gradInput: gradInput)
    }

    /// Per-tensor constants: none for most candidates.
    public func beginPass(_ x: UnsafePointer<Float>, count: Int) {}

    /// q_max = 2^(b − 1 + u) − 1 (15 unsigned / 7 signed at 4 bits, §1.1).
    public var qmax: Int { UniformQuantizer(bits: bits, unsigned: isUnsigned).qmax }
    /// q_min = 0 unsigned, −q_max signed.
    public var qmin: Int { isUnsigned ? 0 : -qmax }
}

/// The smallest positive value a learnable step/clip may take (float eps, as MQBench clamps LSQ's s).
public let learnableQuantizerFloor: Float = 1.19e-7

/// The fixed chunks every reduction over `n` elements is split into (at most `Threads.reductionChunks`,
/// at least `minChunk` elements each): chunk c is `n·c/k ..< n·(c+1)/k`. Fixed by n alone, so sums do not
/// change with the thread count or timing.
public func reductionChunks(_ n: Int, minChunk: Int = 1 << 15) -> Int {
    n <= 0 ? 0 : min(Threads.reductionChunks, max(1, n / minChunk))
}

/// Σ over the fixed chunks of `body(range)`, combined in chunk order.
@inline(__always)
func chunkedSum(_ n: Int, minChunk: Int = 1 << 15, _ body: (Range<Int>) -> SIMD4<Double>) -> SIMD4<Double> {
    let chunks = reductionChunks(n, minChunk: minChunk)
    if chunks == 0 { return SIMD4() }
    if chunks == 1 { return body(0..<n) }
    return withUnsafeTemporaryAllocation(of: SIMD4<Double>.self, capacity: chunks) { partial in
        let p = partial.baseAddress!
        runParallel(tasks: chunks) { _, c in p[c] = body(n * c / chunks ..< n * (c + 1) / chunks) }
        var s = SIMD4<Double>()
        for c in 0..<chunks { s += p[c] }
        return s
    }
}

/// Round half to even, for |v| ≤ 2^22 (callers clamp to the integer grid [q_min, q_max] first, which
/// commutes with rounding since the bounds are integers): adding and subtracting 1.5·2^23 leaves no
/// fraction bits, so IEEE round-to-nearest-even does the rounding. Equal to `v.rounded(.toNearestOrEven)`
/// on that range, but plain adds the compiler can vectorise, where `rounded` is a call to rintf per element
/// on baseline x86-64 (most of a QAT quantizer's time before this).
@inline(__always)
func roundHalfEven(_ v: Float) -> Float {
    (v + 12_582_912) - 12_582_912
}

/// Element-wise loop split over the threads.
@inline(__always)
func elementwise(_ n: Int, _ body: (Range<Int>) -> Void) {
    parallelRanges(n, minChunk: 1 << 15, body)
}
