// Naive 2-D convolution: the direct seven-loop definition, accumulating in Double.
//
// The algorithmic reference that tests compare the fast kernels (Conv2dKernel) against. Slow on purpose:
// no im2col, no BLAS, no threads. Layouts: input NCHW, weight OIHW [out, in/groups, kH, kW], output NCHW.
//
//   y[n,o,i,j] = b[o] + Σ_{c∈group(o)} Σ_{p,q} W[o,c,p,q] · x[n, c, i·s + p − pad, j·s + q − pad]
//
// (out-of-range x are zero). Backward-data and backward-weight are the adjoints of this sum.

public enum Conv2dNaive {
    /// y = conv(x, W) + b (overwrites `output`).
    public static func forward(_ g: ConvGeometry, input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>) {
        let (oh, ow) = (g.outH, g.outW)
        for n in 0..<g.batch {
            for o in 0..<g.outChannels {
                let grp = o / g.outPerGroup
                for i in 0..<oh {
                    for j in 0..<ow {
                        var s = bias.map { Double($0[o]) } ?? 0
                        for cl in 0..<g.inPerGroup {
                            let c = grp * g.inPerGroup + cl
                            for p in 0..<g.kernelH {
                                let ih = i * g.stride + p - g.padding
                                if ih < 0 || ih >= g.inH { continue }
                                for q in 0..<g.kernelW {
                                    let iw = j * g.stride + q - g.padding
                                    if iw < 0 || iw >= g.inW { continue }
                                    let wv = w[((o * g.inPerGroup + cl) * g.kernelH + p) * g.kernelW + q]
                                    let xv = x[((n * g.inChannels + c) * g.inH + ih) * g.inW + iw]
                                    s += Double(wv) * Double(xv)
                                }
                            }
                        }
                        y[((n * g.outChannels + o) * oh + i) * ow + j] = Float(s)
                    }
                }
            }
        }
    }

    /// dx = convᵀ(dy, W) (overwrites `gradInput`).
    public static func backwardData(_ g: ConvGeometry, gradOutput dy: UnsafePointer<Float>,
                                    weight w: UnsafePointer<Float>, gradInput dx: UnsafeMutablePointer<Float>) {
        let (oh, ow) = (g.outH, g.outW)
        var acc = [Double](repeating: 0, count: g.inputCount)
        for n in 0..<g.batch {
            for o in 0..<g.outChannels {
                let grp = o / g.outPerGroup
                for i in 0..<oh {
                    for j in 0..<ow {
                        let gv = Double(dy[((n * g.outChannels + o) * oh + i) * ow + j])
                        for cl in 0..<g.inPerGroup {
                            let c = grp * g.inPerGroup + cl
                            for p in 0..<g.kernelH {
                                let ih = i * g.stride + p - g.padding
                                if ih < 0 || ih >= g.inH { continue }
                                for q in 0..<g.kernelW {
                                    let iw = j * g.stride + q - g.padding
                                    if iw < 0 || iw >= g.inW { continue }
                                    let wv = Double(w[((o * g.inPerGroup + cl) * g.kernelH + p) * g.kernelW + q])
                                    acc[((n * g.inChannels + c) * g.inH + ih) * g.inW + iw] += gv * wv
                                }
                            }
                        }
                    }
                }
            }
        }
        for i in 0..<g.inputCount { dx[i] = Float(acc[i]) }
    }

    /// dW = Σ_n dy ⋆ x (overwrites `gradWeight`).
    public static func backwardWeight(_ g: ConvGeometry, gradOutput dy: UnsafePointer<Float>,
                                      input x: UnsafePointer<Float>, gradWeight dw: UnsafeMutablePointer<Float>) {
        let (oh, ow) = (g.outH, g.outW)
        for o in 0..<g.outChannels {
            let grp = o / g.outPerGroup
            for cl in 0..<g.inPerGroup {
                let c = grp * g.inPerGroup + cl
                for p in 0..<g.kernelH {
                    for q in 0..<g.kernelW {
                        var s = 0.0
                        for n in 0..<g.batch {
                            for i in 0..<oh {
                                let ih = i * g.stride + p - g.padding
                                if ih < 0 || ih >= g.inH { continue }
                                for j in 0..<ow {
                                    let iw = j * g.stride + q - g.padding
                                    if iw < 0 || iw >= g.inW { continue }
                                    s += Double(dy[((n * g.outChannels + o) * oh + i) * ow + j])
                                        * Double(x[((n * g.inChannels + c) * g.inH + ih) * g.inW + iw])
                                }
                            }
                        }
                        dw[((o * g.inPerGroup + cl) * g.kernelH + p) * g.kernelW + q] = Float(s)
                    }
                }
            }
        }
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
