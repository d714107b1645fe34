// The oneDNN backend of Conv2dKernel: the same contract (NCHW input/output, OIHW weights, dx overwritten,
// dW overwritten or accumulated), computed by oneDNN's JIT convolutions over blocked layouts.
//
// Why: on the 2-vCPU AVX-512 machine (AMD EPYC, one thread), oneDNN's convolutions, layout conversions
// included, run ResNet-20's 3×3 layers' forward + backward in 0.56x the time of im2col + OpenBLAS sgemm and
// depthwise layers in ~0.3x (`dqss-bench step --conv-backend both`, README "Speed"). The im2col kernels stay: they are the fallback where oneDNN has no
// implementation, and with Conv2dNaive the oracle the tests check oneDNN against.
//
// How: the batch is cut into chunks whose size depends on the batch and geometry only (never on the thread
// count); chunks run in parallel on our own threads (`runParallel`), each oneDNN call on one thread
// (`_CDNNL` sets oneDNN's OpenMP team to 1). Each chunk converts its images to the blocked layout, runs
// the primitive and converts back, in per-worker scratch. Per-chunk weight gradients are summed in chunk
// order, as in the im2col path, so results do not depend on the thread count at all.

import Foundation
import _CDNNL

/// Which implementation Conv2dKernel runs.
public enum ConvBackend: String, Sendable, CaseIterable, Codable {
    /// im2col (or direct depthwise / 1×1 loops) + OpenBLAS sgemm.
    case im2col
    /// oneDNN's convolutions, with im2col as the fallback where oneDNN has no implementation.
    case oneDNN = "onednn"

    /// The process default: `DQSS_CONV_BACKEND=im2col|onednn` when set (read once), else oneDNN. Any other
    /// value is reported on stderr, naming the variable, and oneDNN runs.
    public static let processDefault: ConvBackend = {
        let (backend, warning) = fromEnvironment(getenv("DQSS_CONV_BACKEND").map { String(cString: $0) })
        if let warning { FileHandle.standardError.write(Data((warning + "\n").utf8)) }
        return backend
    }()

    /// The backend a value of DQSS_CONV_BACKEND selects (nil: unset), and a warning for a value it does not know.
    public static func fromEnvironment(_ value: String?) -> (ConvBackend, warning: String?) {
        guard let value else { return (.oneDNN, nil) }
        if let b = ConvBackend(rawValue: value.lowercased()) { return (b, nil) }
        return (.oneDNN, "warning: DQSS_CONV_BACKEND=\(value) is not one of \(allCases.map(\.rawValue).joined(separator: ", ")); using onednn")
    }
}

/// One oneDNN convolution plan for a chunk geometry (owns the C plan and its primitives).
final class OneDNNPlan {
    private let handle: OpaquePointer
    let scratchFloats: Int
    let forwardWeightFloats: Int
    let backwardWeightFloats: Int
    let gradientFloats: Int

    /// Nil when oneDNN refuses the geometry (the caller falls back to im2col).
    init?(_ g: ConvGeometry, images: Int, bias: Bool) {
        var err = [CChar](repeating: 0, count: 256)
        guard let h = dqss_dnnl_conv_create(Int32(images), Int32(g.inChannels), Int32(g.inH), Int32(g.inW),
                                            Int32(g.outChannels), Int32(g.kernelH), Int32(g.kernelW),
                                            Int32(g.stride), Int32(g.padding), Int32(g.groups), bias ? 1 : 0,
                                            &err, err.count) else { return nil }
        handle = h
        scratchFloats = dqss_dnnl_conv_scratch_floats(h)
        forwardWeightFloats = dqss_dnnl_conv_forward_weight_floats(h)
        backwardWeightFloats = dqss_dnnl_conv_backward_weight_floats(h)
        gradientFloats = dqss_dnnl_conv_weight_gradient_floats(h)
    }
    deinit { dqss_dnnl_conv_destroy(handle) }

    /// oneDNN's implementation names for forward / backward-data / backward-weights.
    var implementations: [String] { (0..<3).map { String(cString: dqss_dnnl_conv_impl(handle, Int32($0))) } }

    private func check(_ status: Int32, _ what: String) {
        // A plan that was created runs; a failure here is a bug (bad pointer or size), not bad input.
        precondition(status == 0, "oneDNN \(what) failed with status \(status)")
    }
    func prepareWeights(_ w: UnsafePointer<Float>, forward: UnsafeMutablePointer<Float>?,
                        backward: UnsafeMutablePointer<Float>?) {
        check(dqss_dnnl_conv_prepare_weights(handle, w, forward, backward), "weight reorder")
    }
    func forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                 _ y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        check(dqss_dnnl_conv_forward(handle, x, w, bias, y, scratch), "forward")
    }
    /// dW (backward-weights layout) and/or dx of one chunk (nil: not computed); dy converted once for both.
    /// `w` in the backward-data layout (read only with dx).
    func backward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>?,
                  _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>?, scratch: UnsafeMutablePointer<Float>) {
        check(dqss_dnnl_conv_backward(handle, x, dy, w, dx, dw, scratch), "backward")
    }
    func sameGradientLayout(as other: OneDNNPlan) -> Bool {
        other === self || dqss_dnnl_conv_same_gradient_layout(handle, other.handle) != 0
    }
    func gradientToOIHW(_ dw: UnsafePointer<Float>, _ oihw: UnsafeMutablePointer<Float>) {
        check(dqss_dnnl_conv_weight_gradient_to_oihw(handle, dw, oihw), "weight-gradient reorder")
    }
}

/// The oneDNN state a Conv2dWorkspace keeps: plans per chunk geometry, weights in oneDNN's layouts.
final class OneDNNState {
    struct Key: Hashable { var geometry: ConvGeometry; var bias: Bool }
    private var plans: [Key: OneDNNPlan] = [:]
    private var refused: Set<Key> = []
    /// Weights in the forward / backward-data layout of the full-chunk plan and of the last (smaller) one.
    private let forwardWeights = (full: Tensor(shape: [0]), last: Tensor(shape: [0]))
    private let backwardWeights = (full: Tensor(shape: [0]), last: Tensor(shape: [0]))

    /// `w` (OIHW) converted to the forward or backward-data layout of both plans (once when they are the
    /// same plan); pointers valid until the next call.
    func weights(_ w: UnsafePointer<Float>, full: OneDNNPlan, last: OneDNNPlan, backwardData: Bool)
        -> (full: UnsafePointer<Float>, last: UnsafePointer<Float>) {
        let buffers = backwardData ? backwardWeights : forwardWeights
        func convert(_ p: OneDNNPlan, _ t: Tensor) -> UnsafePointer<Float> {
            t.resize(to: [backwardData ? p.backwardWeightFloats : p.forwardWeightFloats])
            p.prepareWeights(w, forward: backwardData ? nil : t.data, backward: backwardData ? t.data : nil)
            return UnsafePointer(t.data)
        }
        let f = convert(full, buffers.full)
        return (f, last === full ? f : convert(last, buffers.last))
    }

    func plan(_ g: ConvGeometry, images: Int, bias: Bool) -> OneDNNPlan? {
        var cg = g
        cg.batch = images
        let key = Key(geometry: cg, bias: bias)
        if let p = plans[key] { return p }
        if refused.contains(key) { return nil }
        guard let p = OneDNNPlan(g, images: images, bias: bias) else { refused.insert(key); return nil }
        // Keep few plans: a layer sees one or two batch sizes (the training batch and the last, smaller one).
        if plans.count >= 8 { plans.removeAll() }
        plans[key] = p
        return p
    }

    var bytes: Int {
        [forwardWeights.full, forwardWeights.last, backwardWeights.full, backwardWeights.last]
            .reduce(0) { $0 + $1.storage.capacity } * MemoryLayout<Float>.stride
    }
}

enum OneDNNConv {
    /// Images per chunk, a function of the batch and the geometry only: at most 16 chunks
    /// (`Threads.reductionChunks`); at least ~2048 output columns per chunk where the batch still gives 4
    /// chunks (each chunk's weight gradient costs a pass over W, which must stay small next to its
    /// images·spatial·W multiply-adds: ResNet-50's 7×7 layers at batch 8 ran 1-image chunks at half speed);
    /// at most ~16k columns (bounds the blocked scratch: one 112×112 image of ResNet-50's stem).
    static func chunkImages(_ g: ConvGeometry) -> Int {
        let S = max(g.outSpatial, 1)
        let atMost16 = (g.batch + Threads.reductionChunks - 1) / Threads.reductionChunks
        let fourChunks = (g.batch + 3) / 4
        let images = max(atMost16, min((2048 + S - 1) / S, fourChunks))
        return max(1, min(g.batch, images, max(1, 16_384 / S)))
    }

    /// Whether oneDNN runs this geometry (else im2col's direct 1×1 GEMMs). Small 1×1 convolutions lose to
    /// the plain per-image GEMM once the blocked conversions are paid: ShuffleNetV2 x0.5 on CIFAR (1×1 of
    /// 24–192 channels at 16×16..4×4, under 2M multiply-adds per image) ran its 1×1 layers 1.35x slower on
    /// oneDNN, while ResNet-50's (64–2048 channels at 56×56..7×7) ran 0.92x and MobileNet-V2's 1.02x
    /// (`dqss-bench step --conv-backend both`, 1 thread).
    static func accepts(_ g: ConvGeometry) -> Bool {
        !(g.isPointwise && g.outChannels * g.patchSize * g.outSpatial < 1 << 21)
    }

    /// Whether oneDNN computes dx too. Its backward-data of a few-channel input (an image stem, 3 channels)
    /// measured several times slower than col2im (ShuffleNetV2's 3→24 stem: 14.5 ms against 7.1 for the whole
    /// im2col backward); such a layer gets dW from oneDNN and dx from im2col. Training never asks for a
    /// stem's dx anyway.
    static func runsInputGradient(_ g: ConvGeometry) -> Bool { g.inPerGroup >= 8 || g.isDepthwise }

    /// The plans for the full chunks and the last chunk, or nil when oneDNN refuses either.
    private static func plans(_ g: ConvGeometry, bias: Bool, ws: Conv2dWorkspace)
        -> (full: OneDNNPlan, last: OneDNNPlan, images: Int, chunks: Int)? {
        guard accepts(g) else { return nil }
        let B = chunkImages(g)
        let chunks = (g.batch + B - 1) / B
        let rem = g.batch - (chunks - 1) * B
        let state = ws.oneDNN
        guard let full = state.plan(g, images: B, bias: bias),
              let last = rem == B ? full : state.plan(g, images: rem, bias: bias) else { return nil }
        return (full, last, B, chunks)
    }

    /// y = conv(x, W) + b. False when oneDNN refuses the geometry (nothing written).
    static func forward(_ g: ConvGeometry, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                        _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, ws: Conv2dWorkspace) -> Bool {
        guard let (full, last, B, chunks) = plans(g, bias: bias != nil, ws: ws) else { return false }
        let (wFull, wLast) = ws.oneDNN.weights(w, full: full, last: last, backwardData: false)
        let workers = min(Threads.count, chunks)
        ws.prepare(workers: workers, col: max(full.scratchFloats, last.scratchFloats), chunk: 0)
        let scratch = ws.scratch
        runParallel(tasks: chunks, maxWorkers: workers) { worker, c in
            let isLast = c == chunks - 1
            let n0 = c * B
            (isLast ? last : full).forward(x + n0 * g.inChannels * g.inSpatial, isLast ? wLast : wFull, bias,
                                           y + n0 * g.outChannels * g.outSpatial, scratch: scratch[worker].col.data)
        }
        return true
    }

    /// dx (overwritten) and/or dW (overwritten or accumulated). False when oneDNN refuses the geometry.
    static func backward(_ g: ConvGeometry, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                         _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>?,
                         _ dw: UnsafeMutablePointer<Float>?, accumulate: Bool, ws: Conv2dWorkspace) -> Bool {
        guard let (full, last, B, chunks) = plans(g, bias: false, ws: ws) else { return false }
        let (wFull, wLast): (UnsafePointer<Float>?, UnsafePointer<Float>?) =
            dx == nil ? (nil, nil) : ws.oneDNN.weights(w, full: full, last: last, backwardData: true)
        // Per-chunk weight gradients stay in oneDNN's layout, summed there and converted once, unless the
        // last chunk's plan chose another layout (then each chunk converts its own to OIHW).
        let blockedSum = full.sameGradientLayout(as: last)
        let W = blockedSum ? full.gradientFloats : g.weightCount
        let workers = min(Threads.count, chunks)
        ws.prepare(workers: workers, col: max(full.scratchFloats, last.scratchFloats),
                   chunk: dw == nil || blockedSum ? 0 : max(full.gradientFloats, last.gradientFloats))
        if dw != nil { ws.partials.resize(to: [chunks * W + (blockedSum ? W : 0)]) }
        let scratch = ws.scratch
        let partials = ws.partials.data
        runParallel(tasks: chunks, maxWorkers: workers) { worker, c in
            let isLast = c == chunks - 1
            let plan = isLast ? last : full
            let n0 = c * B
            let xN = x + n0 * g.inChannels * g.inSpatial, dyN = dy + n0 * g.outChannels * g.outSpatial
            let s = scratch[worker]
            let dxN = dx.map { $0 + n0 * g.inChannels * g.inSpatial }
            let dwC = dw == nil ? nil : blockedSum ? partials + c * W : s.chunk.data
            plan.backward(xN, dyN, isLast ? wLast : wFull, dxN, dwC, scratch: s.col.data)
            if let dwC, !blockedSum { plan.gradientToOIHW(dwC, partials + c * W) }
        }
        if let dw {
            // Fixed chunk order: dW is the same whichever worker ran which chunk, whatever the thread count.
            if blockedSum {
                let total = partials + chunks * W
                parallelRanges(W, minChunk: 4096) { r in
                    for i in r {
                        var sum: Float = 0
                        for c in 0..<chunks { sum += partials[c * W + i] }
                        total[i] = sum
                    }
                }
                if accumulate {
                    full.gradientToOIHW(total, partials)   // chunk 0's slot is free now
                    for i in 0..<g.weightCount { dw[i] += partials[i] }
                } else {
                    full.gradientToOIHW(total, dw)
                }
            } else {
                parallelRanges(W, minChunk: 4096) { r in
                    for i in r {
                        var sum: Float = accumulate ? dw[i] : 0
                        for c in 0..<chunks { sum += partials[c * W + i] }
                        dw[i] = sum
                    }
                }
            }
        }
        return true
    }
}
