// Naive 2-D convolution: the direct seven-loop definition, accumulating in Double.
//
// The algorithmic reference that tests compare the fast kernels (Conv2dKernel) against. Slow on purpose:
// no im2col, no BLAS, no threads. Layouts: input NCHW, weight OIHW [out, in/groups, kH, kW], output NCHW.
//
//   y[n,o,i,j] = b[o] + Σ_{c∈group(o)} Σ_{p,q} W[o,c,p,q] · x[n, c, i·s + p − pad, j·s + q − pad]
//
// (out-of-range x are zero). Backward-data and backward-weight are the adjoints of this sum.

public enum Conv2dNaive {
    /// Calls `tap(y, w, x)` with the flat indices of every term W[w] · x[x] of the sum for y[y] above whose
    /// input is inside the image, in the order n, o, i, j, c, p, q. Forward and both backward passes are this
    /// one enumeration, so they are adjoint by construction.
    static func forEachTap(_ g: ConvGeometry, _ tap: (_ y: Int, _ w: Int, _ x: Int) -> Void) {
        let (oh, ow) = (g.outH, g.outW)
        for n in 0..<g.batch {
            for o in 0..<g.outChannels {
                let grp = o / g.outPerGroup
                for i in 0..<oh {
                    for j in 0..<ow {
                        let yi = ((n * g.outChannels + o) * oh + i) * ow + j
                        for cl in 0..<g.inPerGroup {
                            let c = grp * g.inPerGroup + cl
                            for p in 0..<g.kernelH {
                                let ih = i * g.stride + p - g.padding
                                if ih < 0 || ih >= g.inH { continue }
                                for q in 0..<g.kernelW {
                                    let iw = j * g.stride + q - g.padding
                                    if iw < 0 || iw >= g.inW { continue }
                                    tap(yi, ((o * g.inPerGroup + cl) * g.kernelH + p) * g.kernelW + q,
                                        ((n * g.inChannels + c) * g.inH + ih) * g.inW + iw)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// y = conv(x, W) + b (overwrites `output`).
    public static func forward(_ g: ConvGeometry, input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>) {
        let spatial = g.outSpatial
        var acc = (0..<g.outputCount).map { k in bias.map { Double($0[k / spatial % g.outChannels]) } ?? 0 }
        forEachTap(g) { yi, wi, xi in acc[yi] += Double(w[wi]) * Double(x[xi]) }
        for k in acc.indices { y[k] = Float(acc[k]) }
    }

    /// dx = convᵀ(dy, W) (overwrites `gradInput`).
    public static func backwardData(_ g: ConvGeometry, gradOutput dy: UnsafePointer<Float>,
                                    weight w: UnsafePointer<Float>, gradInput dx: UnsafeMutablePointer<Float>) {
        var acc = [Double](repeating: 0, count: g.inputCount)
        forEachTap(g) { yi, wi, xi in acc[xi] += Double(dy[yi]) * Double(w[wi]) }
        for i in 0..<g.inputCount { dx[i] = Float(acc[i]) }
    }

    /// dW = Σ_n dy ⋆ x (overwrites `gradWeight`).
    public static func backwardWeight(_ g: ConvGeometry, gradOutput dy: UnsafePointer<Float>,
                                      input x: UnsafePointer<Float>, gradWeight dw: UnsafeMutablePointer<Float>) {
        var acc = [Double](repeating: 0, count: g.weightCount)
        forEachTap(g) { yi, wi, xi in acc[wi] += Double(dy[yi]) * Double(x[xi]) }
        for k in acc.indices { dw[k] = Float(acc[k]) }
    }

    /// db[o] = Σ_{n,i,j} dy[n,o,i,j] (overwrites `gradBias`).
    public static func backwardBias(_ g: ConvGeometry, gradOutput dy: UnsafePointer<Float>,
                                    gradBias db: UnsafeMutablePointer<Float>) {
        for o in 0..<g.outChannels {
            var s = 0.0
            for n in 0..<g.batch {
                let p = dy + (n * g.outChannels + o) * g.outSpatial
                for i in 0..<g.outSpatial { s += Double(p[i]) }
            }
            db[o] = Float(s)
        }
    }
}
