// Fast 2-D convolution kernels: im2col + cblas_sgemm, a direct depthwise path, a direct 1×1 path.
//
// Contract (layouts as in Conv2dNaive, which these must match up to float summation order):
// - `forward` overwrites the output with conv(x, W) + b.
// - `backward` computes any subset of dx (overwrite), dW (overwrite or accumulate, explicit) and db
//   (overwrite or accumulate) in one pass that shares the im2col/gather work between dW and dx.
// - Stateless apart from a `Conv2dWorkspace` that owns the scratch buffers (reused across calls, so
//   steady-state steps allocate nothing). Any caller may use them: Conv2d, and the DQSS mixed
//   convolution (Eq. 10) that convolves a mixed weight with a mixed input.
//
// Strategy:
// - General case: the batch is cut into chunks of images (about `workspace.targetColumns` GEMM columns,
//   1024 by default = 1 image at 32×32, 16 at 8×8, and at least four chunks per thread; a full-batch im2col of a
//   64-channel layer at batch 128 would be 300 MB). Chunks run in parallel, one per thread, each with its own scratch and a single-threaded
//   GEMM (OpenBLAS's pool is set to 1 thread for the region): im2col, copies and GEMMs of different
//   chunks overlap and no thread waits on OpenBLAS's fork/join for every small GEMM. Per chunk and group:
//     Y_g [oc/g, cols] = W_g [oc/g, K] · col_g [K, cols]            (K = ic/g·kH·kW)
//     dW_g(chunk) = dY_g · col_gᵀ,  dcol_g = W_gᵀ · dY_g, then col2im.
//   Y and dY are in chunk layout [oc, images·spatial]; a copy moves them to/from NCHW.
//   Stride-1 convs whose output has the input's size (3×3 pad 1) build each im2col row as one shifted
//   run of the input plane (see shiftedPlaneCopy) instead of row by row.
//   dW is reduced over chunks in chunk order, so dW does not even depend on which thread ran a chunk.
// - 1×1 stride-1 unpadded: the input planes already are the im2col matrix; GEMMs run on them per image.
// - Depthwise (groups == ic == oc): direct loops over (image, channel) planes; GEMMs with M = 1 would
//   be hopeless.
// Threads: chunk boundaries depend on the batch, the geometry and the thread count only, so results
// depend on the thread count only through float summation order.

import _CBLAS

/// Scratch buffers for Conv2dKernel, reused across calls (grow-only). Not thread-safe: one workspace
/// per concurrently running convolution (a layer owns one).
public final class Conv2dWorkspace: @unchecked Sendable {
    /// Target number of GEMM columns (images × output pixels) per chunk.
    public var targetColumns: Int
    /// oneDNN (default) or im2col + sgemm; see OneDNNConv.swift.
    public var backend: ConvBackend = .processDefault
    /// oneDNN plans and weights in its layouts (used when `backend` is oneDNN).
    let oneDNN = OneDNNState()
    /// Per worker: im2col / dcol matrix of one chunk, and the chunk's output (gradient) in
    /// [oc, images·spatial] layout.
    final class Scratch {
        let col = Tensor(shape: [0])
        let chunk = Tensor(shape: [0])
    }
    var scratch: [Scratch] = []
    /// Per-chunk weight gradients, summed in chunk order.
    let partials = Tensor(shape: [0])

    /// 1024 columns: measured with `dqss-bench shapes --threads 1 --statistic min` against 2048 and 4096
    /// (forward 2–7 % faster on the ResNet-20 shapes, backward equal; the chunk's im2col matrix then stays
    /// in L2 for 16-channel layers, and one image at 32×32 needs no NCHW copy).
    public init(targetColumns: Int = 1024, backend: ConvBackend = .processDefault) {
        self.targetColumns = targetColumns
        self.backend = backend
    }

    /// What runs this geometry: "im2col", or oneDNN's implementation names for forward / backward-data /
    /// backward-weights ("jit:avx512_core, ...") when the backend is oneDNN and oneDNN accepts it.
    public func implementation(for g: ConvGeometry, bias: Bool = false) -> String {
        guard backend == .oneDNN, g.batch > 0, OneDNNConv.accepts(g),
              let p = oneDNN.plan(g, images: OneDNNConv.chunkImages(g), bias: bias) else { return "im2col" }
        var names = p.implementations
        if !OneDNNConv.runsInputGradient(g) { names[1] = "im2col" }
        return names.joined(separator: ", ")
    }

    /// Images per chunk for this geometry: about `targetColumns` columns, and at least four chunks per
    /// thread when the batch allows (load balance on a shared machine).
    public func chunkImages(_ g: ConvGeometry, threads: Int = Threads.count) -> Int {
        let byColumns = targetColumns / max(g.outSpatial, 1)
        let forBalance = (g.batch + 4 * threads - 1) / (4 * threads)
        return max(1, min(g.batch, byColumns, forBalance))
    }

    /// Images per chunk of the backward pass, whose per-chunk weight gradients are summed in chunk
    /// order: the partition must not depend on the thread count (`Threads.reductionChunks`).
    public func backwardChunkImages(_ g: ConvGeometry) -> Int {
        let byColumns = targetColumns / max(g.outSpatial, 1)
        let forBalance = (g.batch + Threads.reductionChunks - 1) / Threads.reductionChunks
        return max(1, min(g.batch, byColumns, forBalance))
    }


    func prepare(workers: Int, col: Int, chunk: Int) {
        while scratch.count < workers { scratch.append(Scratch()) }
        for s in scratch.prefix(workers) {
            s.col.resize(to: [col])
            s.chunk.resize(to: [chunk])
        }
    }

    /// Bytes currently held (for memory reports).
    public var bytes: Int {
        (scratch.reduce(0) { $0 + $1.col.storage.capacity + $1.chunk.storage.capacity } + partials.storage.capacity)
            * MemoryLayout<Float>.stride + oneDNN.bytes
    }
}

/// Runs `body(worker, chunk)` for every chunk in 0..<chunks on up to `Threads.count` workers, handing
/// chunks out dynamically (a busy core does fewer). GEMMs inside (`serialGEMM`) run single-threaded; with
/// one worker they run on OpenBLAS's threads instead. Either way inside a BLASGate section.
/// `workers` is the number of per-worker scratch sets the caller prepared.
func runChunks(_ chunks: Int, workers: Int, _ body: (_ worker: Int, _ chunk: Int) -> Void) {
    if min(workers, chunks) <= 1 {
        BLASGate.shared.run(.threaded) { for c in 0..<chunks { body(0, c) } }
        return
    }
    BLASGate.shared.run(.serial) { runParallel(tasks: chunks, maxWorkers: workers, body) }
}

public enum Conv2dKernel {
    // MARK: - Forward

    /// y = conv(x, W) + b, overwriting `output` (NCHW, g.outputCount elements).
    public static func forward(_ g: ConvGeometry, input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>,
                               workspace ws: Conv2dWorkspace) {
        if g.batch == 0 { return }
        if ws.backend == .oneDNN, OneDNNConv.forward(g, x, w, bias, y, ws: ws) { return }
        if g.isDepthwise { depthwiseForward(g, x, w, bias, y); return }
        let B = ws.chunkImages(g)
        let chunks = (g.batch + B - 1) / B
        let S = g.outSpatial, K = g.patchSize, ocg = g.outPerGroup
        let pointwise = g.isPointwise
        let workers = min(Threads.count, chunks)
        ws.prepare(workers: workers, col: pointwise ? 0 : g.groups * K * B * S,
                   chunk: pointwise ? 0 : g.outChannels * B * S)
        let scratch = ws.scratch
        runChunks(chunks, workers: workers) { worker, c in
            let n0 = c * B, b = min(B, g.batch - n0), cols = b * S
            let xN = x + n0 * g.inChannels * g.inSpatial, yN = y + n0 * g.outChannels * S
            if pointwise {
                for i in 0..<b {
                    let xi = xN + i * g.inChannels * S, yi = yN + i * g.outChannels * S
                    for grp in 0..<g.groups {
                        serialGEMM(.none, .none, m: ocg, n: S, k: K, a: w + grp * ocg * K, lda: K,
                             b: xi + grp * K * S, ldb: S, beta: 0, c: yi + grp * ocg * S, ldc: S)
                    }
                }
                if let bias { addBias(bias, yN, images: b, channels: g.outChannels, spatial: S) }
                return
            }
            let col = scratch[worker].col.data
            im2col(g, xN, images: b, col: col, planes: 0..<(b * g.inChannels))
            // One image: the chunk layout is the NCHW layout, write straight into the output.
            let dst = b == 1 ? yN : scratch[worker].chunk.data
            for grp in 0..<g.groups {
                serialGEMM(.none, .none, m: ocg, n: cols, k: K,
                     a: w + grp * ocg * K, lda: K, b: col + grp * K * cols, ldb: cols,
                     beta: 0, c: dst + grp * ocg * cols, ldc: cols)
            }
            if b == 1 {
                if let bias { addBias(bias, yN, images: 1, channels: g.outChannels, spatial: S) }
            } else {
                chunkToNCHW(dst, yN, images: b, channels: g.outChannels, spatial: S, bias: bias)
            }
        }
    }

    // MARK: - Backward

    /// Gradients of y = conv(x, W) + b given dy. Each output is optional:
    /// - `gradInput`: overwritten with dx.
    /// - `gradWeight`: dW, added to the existing contents when `accumulate` is true, else overwritten.
    /// - `gradBias`: db, same `accumulate` rule.
    public static func backward(_ g: ConvGeometry, gradOutput dy: UnsafePointer<Float>,
                                input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                                gradInput dx: UnsafeMutablePointer<Float>?,
                                gradWeight dw: UnsafeMutablePointer<Float>?,
                                gradBias db: UnsafeMutablePointer<Float>? = nil,
                                accumulate: Bool, workspace ws: Conv2dWorkspace) {
        if let db { biasGradient(g, gradOutput: dy, gradBias: db, accumulate: accumulate) }
        if dx == nil && dw == nil { return }
        if g.batch == 0 {
            if let dw, !accumulate { dw.update(repeating: 0, count: g.weightCount) }
            return
        }
        var dw = dw
        if ws.backend == .oneDNN {
            // A stem's dx comes from col2im, its dW from oneDNN (OneDNNConv.runsInputGradient).
            let dxFromOneDNN = OneDNNConv.runsInputGradient(g)
            if dxFromOneDNN || dw != nil,
               OneDNNConv.backward(g, dy, x, w, dxFromOneDNN ? dx : nil, dw, accumulate: accumulate, ws: ws) {
                if dxFromOneDNN || dx == nil { return }
                dw = nil
            }
        }
        if g.isDepthwise {
            if let dw { depthwiseBackwardWeight(g, dy, x, dw, accumulate: accumulate) }
            if let dx { depthwiseBackwardData(g, dy, w, dx) }
            return
        }
        let B = ws.backwardChunkImages(g)
        let chunks = (g.batch + B - 1) / B
        let S = g.outSpatial, K = g.patchSize, ocg = g.outPerGroup, W = g.weightCount
        let pointwise = g.isPointwise
        let workers = min(Threads.count, chunks)
        ws.prepare(workers: workers, col: pointwise ? 0 : g.groups * K * B * S,
                   chunk: pointwise ? 0 : g.outChannels * B * S)
        if dw != nil { ws.partials.resize(to: [chunks * W]) }
        let scratch = ws.scratch
        let partials = ws.partials.data
        runChunks(chunks, workers: workers) { worker, c in
            let n0 = c * B, b = min(B, g.batch - n0), cols = b * S
            let xN = x + n0 * g.inChannels * g.inSpatial, dyN = dy + n0 * g.outChannels * S
            let dwC = partials + c * W
            if pointwise {
                for i in 0..<b {
                    let xi = xN + i * g.inChannels * S, dyi = dyN + i * g.outChannels * S
                    for grp in 0..<g.groups {
                        if dw != nil {
                            serialGEMM(.none, .transposed, m: ocg, n: K, k: S, a: dyi + grp * ocg * S, lda: S,
                                 b: xi + grp * K * S, ldb: S, beta: i > 0 ? 1 : 0, c: dwC + grp * ocg * K, ldc: K)
                        }
                        if let dx {
                            serialGEMM(.transposed, .none, m: K, n: S, k: ocg, a: w + grp * ocg * K, lda: K,
                                 b: dyi + grp * ocg * S, ldb: S, beta: 0,
                                 c: dx + (n0 + i) * g.inChannels * S + grp * K * S, ldc: S)
                        }
                    }
                }
                return
            }
            let col = scratch[worker].col.data
            let dyc: UnsafePointer<Float>
            if b == 1 { dyc = dyN } else {
                let chunk = scratch[worker].chunk.data
                nchwToChunk(dyN, chunk, images: b, channels: g.outChannels, spatial: S)
                dyc = UnsafePointer(chunk)
            }
            if dw != nil {
                im2col(g, xN, images: b, col: col, planes: 0..<(b * g.inChannels))
                for grp in 0..<g.groups {
                    serialGEMM(.none, .transposed, m: ocg, n: K, k: cols,
                         a: dyc + grp * ocg * cols, lda: cols, b: col + grp * K * cols, ldb: cols,
                         beta: 0, c: dwC + grp * ocg * K, ldc: K)
                }
            }
            if let dx {
                for grp in 0..<g.groups {
                    serialGEMM(.transposed, .none, m: K, n: cols, k: ocg,
                         a: w + grp * ocg * K, lda: K, b: dyc + grp * ocg * cols, ldb: cols,
                         beta: 0, c: col + grp * K * cols, ldc: cols)
                }
                col2im(g, col: col, images: b, gradInput: dx + n0 * g.inChannels * g.inSpatial,
                       planes: 0..<(b * g.inChannels))
            }
        }
        if let dw {
            // Fixed chunk order: dW is the same whichever worker ran which chunk.
            parallelRanges(W, minChunk: 4096) { r in
                for i in r {
                    var s: Float = accumulate ? dw[i] : 0
                    for c in 0..<chunks { s += partials[c * W + i] }
                    dw[i] = s
                }
            }
        }
    }

    /// dx only (overwrites `gradInput`).
    public static func backwardData(_ g: ConvGeometry, gradOutput dy: UnsafePointer<Float>,
                                    weight w: UnsafePointer<Float>, gradInput dx: UnsafeMutablePointer<Float>,
                                    workspace ws: Conv2dWorkspace) {
        // The input is not read when dW is not requested; pass dy as a placeholder pointer.
        backward(g, gradOutput: dy, input: dy, weight: w, gradInput: dx, gradWeight: nil,
                 accumulate: false, workspace: ws)
    }

    /// dW only, accumulated (`accumulate: true`) or overwritten.
    public static func backwardWeight(_ g: ConvGeometry, gradOutput dy: UnsafePointer<Float>,
                                      input x: UnsafePointer<Float>, gradWeight dw: UnsafeMutablePointer<Float>,
                                      accumulate: Bool, workspace ws: Conv2dWorkspace) {
        backward(g, gradOutput: dy, input: x, weight: x, gradInput: nil, gradWeight: dw,
                 accumulate: accumulate, workspace: ws)
    }

    /// db[o] = Σ_{n,i,j} dy[n,o,i,j]; per-plane sums in Float, combined in Double in image order.
    public static func biasGradient(_ g: ConvGeometry, gradOutput dy: UnsafePointer<Float>,
                                    gradBias db: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let S = g.outSpatial, C = g.outChannels, N = g.batch
        parallelRanges(C) { r in
            for o in r {
                var s = 0.0
                for n in 0..<N { s += Double(planeSum(dy + (n * C + o) * S, S)) }
                db[o] = accumulate ? db[o] + Float(s) : Float(s)
            }
        }
    }

    // MARK: - im2col / col2im

    /// First and one-past-last output column j whose input column j·s + q − pad lies in [0, inW).
    @inline(__always)
    static func validRange(_ q: Int, pad: Int, stride s: Int, inW: Int, outW: Int) -> (Int, Int) {
        let a = pad - q
        let lo = a <= 0 ? 0 : (a + s - 1) / s
        let num = inW - 1 + pad - q
        let hi = num < 0 ? 0 : min(outW, num / s + 1)
        return (min(lo, hi), hi)
    }

    /// col[(c·kH + p)·kW + q, img·S + i·outW + j] = x[img, c, i·s + p − pad, j·s + q − pad] (0 outside).
    /// Serial over the (image, channel) planes in `r` (callers parallelise over chunks).
    static func im2col(_ g: ConvGeometry, _ x: UnsafePointer<Float>, images b: Int, col: UnsafeMutablePointer<Float>,
                       planes r: Range<Int>) {
        let C = g.inChannels, kh = g.kernelH, kw = g.kernelW, s = g.stride, pad = g.padding
        let inH = g.inH, inW = g.inW, oh = g.outH, ow = g.outW, S = g.outSpatial, cols = b * S
        let sameSize = s == 1 && oh == inH && ow == inW && pad < inW
        do {
            for t in r {
                let img = t / C, c = t % C
                let src = x + (img * C + c) * inH * inW
                for p in 0..<kh {
                    for q in 0..<kw {
                        let dst = col + ((c * kh + p) * kw + q) * cols + img * S
                        if sameSize {
                            shiftedPlaneCopy(dst, src, dy: p - pad, dx: q - pad, h: inH, w: inW)
                            continue
                        }
                        let (lo, hi) = validRange(q, pad: pad, stride: s, inW: inW, outW: ow)
                        for i in 0..<oh {
                            let d = dst + i * ow
                            let ih = i * s + p - pad
                            if ih < 0 || ih >= inH || lo >= hi { zeroRow(d, ow); continue }
                            if lo > 0 { zeroRow(d, lo) }
                            if hi < ow { zeroRow(d + hi, ow - hi) }
                            let srow = src + ih * inW + q - pad
                            if s == 1 {
                                copyRow(d + lo, srow + lo, hi - lo)
                            } else {
                                for j in lo..<hi { d[j] = srow[j * s] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// dx[img, c, ...] = Σ over the col entries that im2col copied from that pixel (overwrites dx).
    /// Serial over the (image, channel) planes in `r`.
    /// `col` is scratch: the same-size path zeroes its entries for padded positions.
    static func col2im(_ g: ConvGeometry, col: UnsafeMutablePointer<Float>, images b: Int, gradInput dx: UnsafeMutablePointer<Float>,
                       planes r: Range<Int>) {
        let C = g.inChannels, kh = g.kernelH, kw = g.kernelW, s = g.stride, pad = g.padding
        let inH = g.inH, inW = g.inW, oh = g.outH, ow = g.outW, S = g.outSpatial, cols = b * S
        let sameSize = s == 1 && oh == inH && ow == inW && pad < inW
        do {
            for t in r {
                let img = t / C, c = t % C
                let dst = dx + (img * C + c) * inH * inW
                // Same-size planes with a centre tap (odd kernel, pad = k/2): that tap covers the
                // whole plane unshifted, so it initialises dst instead of a zero fill plus an add.
                let centre = sameSize && kh % 2 == 1 && kw % 2 == 1 && kh / 2 == pad && kw / 2 == pad
                if centre {
                    copyRow(dst, col + ((c * kh + pad) * kw + pad) * cols + img * S, inH * inW)
                } else {
                    dst.update(repeating: 0, count: inH * inW)
                }
                for p in 0..<kh {
                    for q in 0..<kw {
                        let src = col + ((c * kh + p) * kw + q) * cols + img * S
                        if sameSize {
                            if centre && p == pad && q == pad { continue }
                            shiftedPlaneAdd(dst, src, dy: p - pad, dx: q - pad, h: inH, w: inW)
                            continue
                        }
                        let (lo, hi) = validRange(q, pad: pad, stride: s, inW: inW, outW: ow)
                        if lo >= hi { continue }
                        for i in 0..<oh {
                            let ih = i * s + p - pad
                            if ih < 0 || ih >= inH { continue }
                            let srow = src + i * ow
                            let d = dst + ih * inW + q - pad
                            if s == 1 {
                                addRow(d + lo, srow + lo, hi - lo)
                            } else {
                                for j in lo..<hi { d[j * s] += srow[j] }
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: - Same-size stride-1 planes
    // With stride 1 and output size = input size (3×3 pad 1 and the like), tap (p, q) of im2col is the
    // input plane shifted by off = dy·w + dx as ONE linear run; only the dy rows at the top or bottom
    // and the |dx| columns at the left or right edge (which the linear shift wraps into the neighbouring
    // row) must be zero. One long copy instead of h short row copies.

    /// dst[i·w + j] = src[(i+dy)·w + j+dx], 0 where (i+dy, j+dx) is outside the h×w plane.
    static func shiftedPlaneCopy(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>,
                                 dy: Int, dx: Int, h: Int, w: Int) {
        let n = h * w, off = dy * w + dx
        let iLo = max(0, -dy), iHi = min(h, h - dy)
        if iLo >= iHi { zeroRow(dst, n); return }
        let a = iLo * w, b = iHi * w
        // Clamp the run to the source plane; the clipped ends are edge columns, zeroed below.
        let a2 = max(a, -off), b2 = min(b, n - off)
        zeroRow(dst, a2)
        if b2 < n { zeroRow(dst + b2, n - b2) }
        if a2 < b2 { copyRow(dst + a2, src + a2 + off, b2 - a2) }
        if dx < 0 {
            for i in iLo..<iHi { for j in 0..<min(-dx, w) { dst[i * w + j] = 0 } }
        } else if dx > 0 {
            for i in iLo..<iHi { for j in max(0, w - dx)..<w { dst[i * w + j] = 0 } }
        }
    }

    /// The adjoint of `shiftedPlaneCopy`: dst[(i+dy)·w + j+dx] += src[i·w + j] for in-plane positions.
    /// Zeroes src's entries at the wrapped edge columns first (src is scratch) so the add is one run.
    static func shiftedPlaneAdd(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeMutablePointer<Float>,
                                dy: Int, dx: Int, h: Int, w: Int) {
        let n = h * w, off = dy * w + dx
        let iLo = max(0, -dy), iHi = min(h, h - dy)
        if iLo >= iHi { return }
        if dx < 0 {
            for i in iLo..<iHi { for j in 0..<min(-dx, w) { src[i * w + j] = 0 } }
        } else if dx > 0 {
            for i in iLo..<iHi { for j in max(0, w - dx)..<w { src[i * w + j] = 0 } }
        }
        let a2 = max(iLo * w, -off), b2 = min(iHi * w, n - off)
        if a2 < b2 { addRow(dst + a2 + off, src + a2, b2 - a2) }
    }

    // MARK: - Short rows
    // Image rows are 8–32 floats here: a memcpy/memset call per row costs more than the copy itself
    // (and LLVM turns plain copy loops back into such calls), so rows move in explicit SIMD8 pieces.

    @inline(__always)
    static func copyRow(_ d: UnsafeMutablePointer<Float>, _ s: UnsafePointer<Float>, _ n: Int) {
        var j = 0
        while j + 8 <= n {
            UnsafeMutableRawPointer(d + j).storeBytes(of: UnsafeRawPointer(s + j).loadUnaligned(as: SIMD8<Float>.self),
                                                      as: SIMD8<Float>.self)
            j += 8
        }
        while j < n { d[j] = s[j]; j += 1 }
    }

    @inline(__always)
    static func zeroRow(_ d: UnsafeMutablePointer<Float>, _ n: Int) {
        var j = 0
        while j + 8 <= n { UnsafeMutableRawPointer(d + j).storeBytes(of: SIMD8<Float>(), as: SIMD8<Float>.self); j += 8 }
        while j < n { d[j] = 0; j += 1 }
    }

    @inline(__always)
    static func addRow(_ d: UnsafeMutablePointer<Float>, _ s: UnsafePointer<Float>, _ n: Int) {
        var j = 0
        while j + 8 <= n {
            let v = UnsafeRawPointer(d + j).loadUnaligned(as: SIMD8<Float>.self)
                + UnsafeRawPointer(s + j).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(d + j).storeBytes(of: v, as: SIMD8<Float>.self)
            j += 8
        }
        while j < n { d[j] += s[j]; j += 1 }
    }

    // MARK: - Layout copies

    /// y[img, o, :] = chunk[o, img·S ..< (img+1)·S] + b[o].
    static func chunkToNCHW(_ chunk: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, images b: Int,
                            channels C: Int, spatial S: Int, bias: UnsafePointer<Float>?) {
        let cols = b * S
        do { let r = 0..<(b * C)
            for t in r {
                let img = t / C, o = t % C
                let d = y + t * S, src = chunk + o * cols + img * S
                if let bias {
                    let bv = bias[o]
                    for i in 0..<S { d[i] = src[i] + bv }
                } else {
                    d.update(from: src, count: S)
                }
            }
        }
    }

    /// chunk[o, img·S ..< (img+1)·S] = dy[img, o, :].
    static func nchwToChunk(_ dy: UnsafePointer<Float>, _ chunk: UnsafeMutablePointer<Float>, images b: Int,
                            channels C: Int, spatial S: Int) {
        let cols = b * S
        do { let r = 0..<(b * C)
            for t in r {
                let img = t / C, o = t % C
                (chunk + o * cols + img * S).update(from: dy + t * S, count: S)
            }
        }
    }

    static func addBias(_ bias: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, images b: Int,
                        channels C: Int, spatial S: Int) {
        do { let r = 0..<(b * C)
            for t in r {
                let bv = bias[t % C], d = y + t * S
                for i in 0..<S { d[i] += bv }
            }
        }
    }

    @inline(__always)
    static func planeSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        // Eight independent partial sums: vectorisable and a fixed order.
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            acc += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var s = acc.sum()
        while i < n { s += p[i]; i += 1 }
        return s
    }

    // MARK: - Depthwise (groups == ic == oc)

    static func depthwiseForward(_ g: ConvGeometry, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                 _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>) {
        let C = g.inChannels, kh = g.kernelH, kw = g.kernelW, s = g.stride, pad = g.padding
        let inH = g.inH, inW = g.inW, oh = g.outH, ow = g.outW
        parallelRanges(g.batch * C) { r in
            for t in r {
                let c = t % C
                let src = x + t * inH * inW, dst = y + t * oh * ow, wk = w + c * kh * kw
                dst.update(repeating: bias?[c] ?? 0, count: oh * ow)
                for p in 0..<kh {
                    for q in 0..<kw {
                        let wv = wk[p * kw + q]
                        let (lo, hi) = validRange(q, pad: pad, stride: s, inW: inW, outW: ow)
                        if lo >= hi { continue }
                        for i in 0..<oh {
                            let ih = i * s + p - pad
                            if ih < 0 || ih >= inH { continue }
                            let srow = src + ih * inW + q - pad, d = dst + i * ow
                            if s == 1 {
                                for j in lo..<hi { d[j] += wv * srow[j] }
                            } else {
                                for j in lo..<hi { d[j] += wv * srow[j * s] }
                            }
                        }
                    }
                }
            }
        }
    }

    static func depthwiseBackwardData(_ g: ConvGeometry, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                      _ dx: UnsafeMutablePointer<Float>) {
        let C = g.inChannels, kh = g.kernelH, kw = g.kernelW, s = g.stride, pad = g.padding
        let inH = g.inH, inW = g.inW, oh = g.outH, ow = g.outW
        parallelRanges(g.batch * C) { r in
            for t in r {
                let c = t % C
                let src = dy + t * oh * ow, dst = dx + t * inH * inW, wk = w + c * kh * kw
                dst.update(repeating: 0, count: inH * inW)
                for p in 0..<kh {
                    for q in 0..<kw {
                        let wv = wk[p * kw + q]
                        let (lo, hi) = validRange(q, pad: pad, stride: s, inW: inW, outW: ow)
                        if lo >= hi { continue }
                        for i in 0..<oh {
                            let ih = i * s + p - pad
                            if ih < 0 || ih >= inH { continue }
                            let grow = src + i * ow, d = dst + ih * inW + q - pad
                            if s == 1 {
                                for j in lo..<hi { d[j] += wv * grow[j] }
                            } else {
                                for j in lo..<hi { d[j * s] += wv * grow[j] }
                            }
                        }
                    }
                }
            }
        }
    }

    static func depthwiseBackwardWeight(_ g: ConvGeometry, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                        _ dw: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let C = g.inChannels, kh = g.kernelH, kw = g.kernelW, s = g.stride, pad = g.padding
        let inH = g.inH, inW = g.inW, oh = g.outH, ow = g.outW, N = g.batch
        parallelRanges(C) { r in
            for c in r {
                for p in 0..<kh {
                    for q in 0..<kw {
                        let (lo, hi) = validRange(q, pad: pad, stride: s, inW: inW, outW: ow)
                        var total = 0.0
                        if lo < hi {
                            for n in 0..<N {
                                let t = n * C + c
                                let src = x + t * inH * inW, grad = dy + t * oh * ow
                                var acc: Float = 0
                                for i in 0..<oh {
                                    let ih = i * s + p - pad
                                    if ih < 0 || ih >= inH { continue }
                                    let srow = src + ih * inW + q - pad, grow = grad + i * ow
                                    if s == 1 {
                                        for j in lo..<hi { acc += grow[j] * srow[j] }
                                    } else {
                                        for j in lo..<hi { acc += grow[j] * srow[j * s] }
                                    }
                                }
                                total += Double(acc)
                            }
                        }
                        let k = (c * kh + p) * kw + q
                        dw[k] = accumulate ? dw[k] + Float(total) : Float(total)
                    }
                }
            }
        }
    }
}
