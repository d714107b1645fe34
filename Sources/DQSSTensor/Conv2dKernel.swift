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
// - General case: the batch is processed in chunks of images whose im2col matrix has about
//   `workspace.targetColumns` columns (8 images at 32×32; a full-batch im2col of a 64-channel layer at
//   batch 128 would be 300 MB and slower). Per chunk, one GEMM per group:
//     Y_g [oc/g, cols] = W_g [oc/g, K] · col_g [K, cols]            (K = ic/g·kH·kW)
//     dW_g += dY_g · col_gᵀ,  dcol_g = W_gᵀ · dY_g, then col2im.
//   Y and dY are in chunk layout [oc, images·spatial]; a cheap parallel copy moves them to/from NCHW.
// - 1×1 stride-1 unpadded: the input planes already are the im2col matrix; GEMMs run on them per image.
// - Depthwise (groups == ic == oc): direct loops over (image, channel) planes; GEMMs with M = 1 would
//   be hopeless.
// Threads: GEMMs use OpenBLAS's pool; im2col, col2im, copies and the depthwise loops use
// `parallelRanges` over disjoint (image, channel) planes, and dW/db reductions run in a fixed order,
// so results depend on the thread count only through OpenBLAS's summation order.

/// Scratch buffers for Conv2dKernel, reused across calls (grow-only). Not thread-safe: one workspace
/// per concurrently running convolution (a layer owns one).
public final class Conv2dWorkspace: @unchecked Sendable {
    /// Target number of GEMM columns (images × output pixels) per chunk.
    public var targetColumns: Int
    /// im2col / dcol matrix of one chunk.
    let col = Tensor(shape: [0])
    /// Output or output gradient of one chunk in [oc, images·spatial] layout.
    let chunk = Tensor(shape: [0])

    public init(targetColumns: Int = 8192) {
        self.targetColumns = targetColumns
    }

    /// Images per chunk for this geometry (depends only on the geometry, never on threads).
    public func chunkImages(_ g: ConvGeometry) -> Int {
        max(1, min(g.batch, targetColumns / max(g.outSpatial, 1)))
    }

    /// Bytes currently held (for memory reports).
    public var bytes: Int { (col.storage.capacity + chunk.storage.capacity) * MemoryLayout<Float>.stride }
}

public enum Conv2dKernel {
    // MARK: - Forward

    /// y = conv(x, W) + b, overwriting `output` (NCHW, g.outputCount elements).
    public static func forward(_ g: ConvGeometry, input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>,
                               workspace ws: Conv2dWorkspace) {
        if g.batch == 0 { return }
        if g.isDepthwise { depthwiseForward(g, x, w, bias, y); return }
        if g.isPointwise { pointwiseForward(g, x, w, bias, y); return }
        let B = ws.chunkImages(g)
        let S = g.outSpatial, K = g.patchSize, ocg = g.outPerGroup
        ws.col.resize(to: [g.inChannels * g.kernelH * g.kernelW * B * S])
        if B > 1 { ws.chunk.resize(to: [g.outChannels * B * S]) }
        var n0 = 0
        while n0 < g.batch {
            let b = min(B, g.batch - n0), cols = b * S
            let col = ws.col.data
            im2col(g, x + n0 * g.inChannels * g.inSpatial, images: b, col: col)
            // One image: the chunk layout is the NCHW layout, write straight into the output.
            let dst = b == 1 ? y + n0 * g.outChannels * S : ws.chunk.data
            for grp in 0..<g.groups {
                gemm(.none, .none, m: ocg, n: cols, k: K,
                     a: w + grp * ocg * K, lda: K, b: col + grp * K * cols, ldb: cols,
                     beta: 0, c: dst + grp * ocg * cols, ldc: cols)
            }
            if b == 1 {
                if let bias { addBias(bias, y + n0 * g.outChannels * S, images: 1, channels: g.outChannels, spatial: S) }
            } else {
                chunkToNCHW(dst, y + n0 * g.outChannels * S, images: b, channels: g.outChannels, spatial: S, bias: bias)
            }
            n0 += b
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
        if g.isDepthwise {
            if let dw { depthwiseBackwardWeight(g, dy, x, dw, accumulate: accumulate) }
            if let dx { depthwiseBackwardData(g, dy, w, dx) }
            return
        }
        if g.isPointwise { pointwiseBackward(g, dy, x, w, dx, dw, accumulate: accumulate); return }
        let B = ws.chunkImages(g)
        let S = g.outSpatial, K = g.patchSize, ocg = g.outPerGroup
        ws.col.resize(to: [g.inChannels * g.kernelH * g.kernelW * B * S])
        if B > 1 { ws.chunk.resize(to: [g.outChannels * B * S]) }
        var n0 = 0
        while n0 < g.batch {
            let b = min(B, g.batch - n0), cols = b * S
            let col = ws.col.data
            let dyN = dy + n0 * g.outChannels * S
            let dyc: UnsafePointer<Float>
            if b == 1 { dyc = dyN } else {
                nchwToChunk(dyN, ws.chunk.data, images: b, channels: g.outChannels, spatial: S)
                dyc = UnsafePointer(ws.chunk.data)
            }
            if let dw {
                im2col(g, x + n0 * g.inChannels * g.inSpatial, images: b, col: col)
                let beta: Float = (accumulate || n0 > 0) ? 1 : 0
                for grp in 0..<g.groups {
                    gemm(.none, .transposed, m: ocg, n: K, k: cols,
                         a: dyc + grp * ocg * cols, lda: cols, b: col + grp * K * cols, ldb: cols,
                         beta: beta, c: dw + grp * ocg * K, ldc: K)
                }
            }
            if let dx {
                for grp in 0..<g.groups {
                    gemm(.transposed, .none, m: K, n: cols, k: ocg,
                         a: w + grp * ocg * K, lda: K, b: dyc + grp * ocg * cols, ldb: cols,
                         beta: 0, c: col + grp * K * cols, ldc: cols)
                }
                col2im(g, col: col, images: b, gradInput: dx + n0 * g.inChannels * g.inSpatial)
            }
            n0 += b
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
    static func im2col(_ g: ConvGeometry, _ x: UnsafePointer<Float>, images b: Int, col: UnsafeMutablePointer<Float>) {
        let C = g.inChannels, kh = g.kernelH, kw = g.kernelW, s = g.stride, pad = g.padding
        let inH = g.inH, inW = g.inW, oh = g.outH, ow = g.outW, S = g.outSpatial, cols = b * S
        parallelRanges(b * C) { r in
            for t in r {
                let img = t / C, c = t % C
                let src = x + (img * C + c) * inH * inW
                for p in 0..<kh {
                    for q in 0..<kw {
                        let dst = col + ((c * kh + p) * kw + q) * cols + img * S
                        let (lo, hi) = validRange(q, pad: pad, stride: s, inW: inW, outW: ow)
                        for i in 0..<oh {
                            let d = dst + i * ow
                            let ih = i * s + p - pad
                            if ih < 0 || ih >= inH || lo >= hi { d.update(repeating: 0, count: ow); continue }
                            if lo > 0 { d.update(repeating: 0, count: lo) }
                            if hi < ow { (d + hi).update(repeating: 0, count: ow - hi) }
                            let srow = src + ih * inW + q - pad
                            if s == 1 {
                                (d + lo).update(from: srow + lo, count: hi - lo)
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
    static func col2im(_ g: ConvGeometry, col: UnsafePointer<Float>, images b: Int, gradInput dx: UnsafeMutablePointer<Float>) {
        let C = g.inChannels, kh = g.kernelH, kw = g.kernelW, s = g.stride, pad = g.padding
        let inH = g.inH, inW = g.inW, oh = g.outH, ow = g.outW, S = g.outSpatial, cols = b * S
        parallelRanges(b * C) { r in
            for t in r {
                let img = t / C, c = t % C
                let dst = dx + (img * C + c) * inH * inW
                dst.update(repeating: 0, count: inH * inW)
                for p in 0..<kh {
                    for q in 0..<kw {
                        let src = col + ((c * kh + p) * kw + q) * cols + img * S
                        let (lo, hi) = validRange(q, pad: pad, stride: s, inW: inW, outW: ow)
                        if lo >= hi { continue }
                        for i in 0..<oh {
                            let ih = i * s + p - pad
                            if ih < 0 || ih >= inH { continue }
                            let srow = src + i * ow
                            let d = dst + ih * inW + q - pad
                            if s == 1 {
                                for j in lo..<hi { d[j] += srow[j] }
                            } else {
                                for j in lo..<hi { d[j * s] += srow[j] }
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: - Layout copies

    /// y[img, o, :] = chunk[o, img·S ..< (img+1)·S] + b[o].
    static func chunkToNCHW(_ chunk: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, images b: Int,
                            channels C: Int, spatial S: Int, bias: UnsafePointer<Float>?) {
        let cols = b * S
        parallelRanges(b * C) { r in
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
        parallelRanges(b * C) { r in
            for t in r {
                let img = t / C, o = t % C
                (chunk + o * cols + img * S).update(from: dy + t * S, count: S)
            }
        }
    }

    static func addBias(_ bias: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, images b: Int,
                        channels C: Int, spatial S: Int) {
        parallelRanges(b * C) { r in
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

    // MARK: - 1×1 stride 1 (no im2col)

    static func pointwiseForward(_ g: ConvGeometry, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                 _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>) {
        let S = g.outSpatial, icg = g.inPerGroup, ocg = g.outPerGroup
        for n in 0..<g.batch {
            for grp in 0..<g.groups {
                gemm(.none, .none, m: ocg, n: S, k: icg,
                     a: w + grp * ocg * icg, lda: icg,
                     b: x + (n * g.inChannels + grp * icg) * S, ldb: S,
                     beta: 0, c: y + (n * g.outChannels + grp * ocg) * S, ldc: S)
            }
        }
        if let bias { addBias(bias, y, images: g.batch, channels: g.outChannels, spatial: S) }
    }

    static func pointwiseBackward(_ g: ConvGeometry, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                  _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>?,
                                  _ dw: UnsafeMutablePointer<Float>?, accumulate: Bool) {
        let S = g.outSpatial, icg = g.inPerGroup, ocg = g.outPerGroup
        for n in 0..<g.batch {
            for grp in 0..<g.groups {
                let dyg = dy + (n * g.outChannels + grp * ocg) * S
                if let dw {
                    gemm(.none, .transposed, m: ocg, n: icg, k: S,
                         a: dyg, lda: S, b: x + (n * g.inChannels + grp * icg) * S, ldb: S,
                         beta: (accumulate || n > 0) ? 1 : 0, c: dw + grp * ocg * icg, ldc: icg)
                }
                if let dx {
                    gemm(.transposed, .none, m: icg, n: S, k: ocg,
                         a: w + grp * ocg * icg, lda: icg, b: dyg, ldb: S,
                         beta: 0, c: dx + (n * g.inChannels + grp * icg) * S, ldc: S)
                }
            }
        }
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
