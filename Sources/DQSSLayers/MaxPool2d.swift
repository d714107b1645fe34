// MaxPool2d: max over k×k windows with stride s and implicit −∞ padding p (PyTorch, ceil_mode=False).
//   out = ⌊(H + 2p − k) / s⌋ + 1 (same for W)
// Backward routes each output gradient to the position of its window's maximum; on ties the FIRST
// maximum in row-major window order wins (PyTorch's CPU kernel). Gradients of overlapping windows add up.

import DQSSTensor

public final class MaxPool2d: UnaryLayer {
    /// Kernel, stride, padding.
    public let window: PoolWindow
    public var isTraining = false

    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var argmax: [Int32] = []     // index within the input plane of each output's maximum
    private var inputShape: [Int] = []

    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        window = PoolWindow(layer: "MaxPool2d", kernelSize: kernelSize, stride: stride, padding: padding)
    }

    public func forward(_ x: Tensor) -> Tensor {
        let (oh, ow) = window.outputSize(of: x, layer: "MaxPool2d")
        let h = x.h, w = x.w
        inputShape = x.shape
        output.resize(to: [x.n, x.c, oh, ow])
        let planes = x.n * x.c
        if argmax.count != output.count { argmax = [Int32](repeating: 0, count: output.count) }
        let k = window.kernelSize, s = window.stride, p = window.padding
        let src = x.data, dst = output.data
        argmax.withUnsafeMutableBufferPointer { am in
            let idx = am.baseAddress!
            parallelFor(planes) { plane in
                let xin = src + plane * h * w, y = dst + plane * oh * ow, a = idx + plane * oh * ow
                for oy in 0..<oh {
                    let y0 = oy * s - p
                    for ox in 0..<ow {
                        let x0 = ox * s - p
                        var best = -Float.infinity, bestAt: Int32 = -1
                        for ky in max(0, y0)..<min(h, y0 + k) {
                            for kx in max(0, x0)..<min(w, x0 + k) {
                                let v = xin[ky * w + kx]
                                // Strict > keeps the first maximum; NaN propagates like PyTorch.
                                if v > best || v.isNaN || bestAt < 0 { best = v; bestAt = Int32(ky * w + kx) }
                            }
                        }
                        y[oy * ow + ox] = best
                        a[oy * ow + ox] = bestAt
                    }
                }
            }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.count == argmax.count, "MaxPool2d.backward: gradient \(gradOutput.shape) vs forward output \(output.shape)")
        gradInput.resize(to: inputShape)
        gradInput.zero()
        let hw = inputShape[2] * inputShape[3], ohw = output.h * output.w
        let planes = inputShape[0] * inputShape[1]
        let g = gradOutput.data, dx = gradInput.data
        argmax.withUnsafeBufferPointer { am in
            let idx = am.baseAddress!
            parallelFor(planes) { plane in
                let d = dx + plane * hw, gp = g + plane * ohw, a = idx + plane * ohw
                for o in 0..<ohw { d[Int(a[o])] += gp[o] }
            }
        }
        return gradInput
    }
}
