// UpsampleBilinear: PyTorch F.interpolate(x, scale_factor=r, mode="bilinear", align_corners=False) for an
// integer factor r (MSRResNet's image-level skip). For each output row (and likewise column):
//   src = max((dst + 0.5) / r − 0.5, 0),  i0 = floor(src),  i1 = min(i0 + 1, in − 1),  λ = src − i0
//   y = (1−λh)(1−λw) x[i0,j0] + (1−λh) λw x[i0,j1] + λh (1−λw) x[i1,j0] + λh λw x[i1,j1]
// Backward scatters dy with the same four weights (the transpose of the forward map).

import DQSSTensor

public final class UpsampleBilinear: UnaryLayer {
    public let scaleFactor: Int
    public var isTraining = false
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var inputShape: [Int] = []

    public init(scaleFactor: Int) {
        precondition(scaleFactor >= 1, "UpsampleBilinear needs scaleFactor >= 1")
        self.scaleFactor = scaleFactor
    }

    /// Source indices and weight of the second one, per output position along one axis.
    func taps(input n: Int) -> [(i0: Int, i1: Int, lambda: Float)] {
        let r = Float(scaleFactor)
        return (0..<(n * scaleFactor)).map { d in
            let src = max((Float(d) + 0.5) / r - 0.5, 0)
            let i0 = min(Int(src), n - 1)
            return (i0, min(i0 + 1, n - 1), src - Float(i0))
        }
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4, "UpsampleBilinear expects NCHW input, got \(x.shape)")
        inputShape = x.shape
        let (h, w) = (x.h, x.w), (oh, ow) = (h * scaleFactor, w * scaleFactor)
        output.resize(to: [x.n, x.c, oh, ow])
        let rows = taps(input: h), cols = taps(input: w)
        let src = x.data, dst = output.data
        rows.withUnsafeBufferPointer { rp in
            cols.withUnsafeBufferPointer { cp in
                parallelFor(x.n * x.c, minChunk: 1) { plane in
                    let p = src + plane * h * w, q = dst + plane * oh * ow
                    for oy in 0..<oh {
                        let t = rp[oy], a = p + t.i0 * w, b = p + t.i1 * w
                        for ox in 0..<ow {
                            let u = cp[ox]
                            let top = (1 - u.lambda) * a[u.i0] + u.lambda * a[u.i1]
                            let bottom = (1 - u.lambda) * b[u.i0] + u.lambda * b[u.i1]
                            q[oy * ow + ox] = (1 - t.lambda) * top + t.lambda * bottom
                        }
                    }
                }
            }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.shape == output.shape, "UpsampleBilinear.backward: gradient \(gradOutput.shape) vs output \(output.shape)")
        gradInput.resize(to: inputShape)
        gradInput.zero()
        let (h, w) = (inputShape[2], inputShape[3]), (oh, ow) = (h * scaleFactor, w * scaleFactor)
        let rows = taps(input: h), cols = taps(input: w)
        let g = gradOutput.data, dx = gradInput.data
        rows.withUnsafeBufferPointer { rp in
            cols.withUnsafeBufferPointer { cp in
                parallelFor(inputShape[0] * inputShape[1], minChunk: 1) { plane in
                    let q = dx + plane * h * w, gp = g + plane * oh * ow
                    for oy in 0..<oh {
                        let t = rp[oy], a = q + t.i0 * w, b = q + t.i1 * w
                        for ox in 0..<ow {
                            let u = cp[ox], v = gp[oy * ow + ox]
                            let vt = (1 - t.lambda) * v, vb = t.lambda * v
                            a[u.i0] += (1 - u.lambda) * vt
                            a[u.i1] += u.lambda * vt
                            b[u.i0] += (1 - u.lambda) * vb
                            b[u.i1] += u.lambda * vb
                        }
                    }
                }
            }
        }
        return gradInput
    }
}
