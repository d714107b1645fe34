// AvgPool2d: mean over k×k windows with stride s and zero padding p, dividing by k² always
// (PyTorch's default count_include_pad=True, ceil_mode=False).
//   out = ⌊(H + 2p − k) / s⌋ + 1;  y = Σ_window x / k²;  dx += dy / k² over each window

import DQSSTensor

public final class AvgPool2d: UnaryLayer {
    /// Kernel, stride, padding.
    public let window: PoolWindow
    public var isTraining = false

    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var inputShape: [Int] = []

    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        window = PoolWindow(layer: "AvgPool2d", kernelSize: kernelSize, stride: stride, padding: padding)
    }

    public func forward(_ x: Tensor) -> Tensor {
        let (oh, ow) = window.outputSize(of: x, layer: "AvgPool2d")
        let h = x.h, w = x.w
        inputShape = x.shape
        output.resize(to: [x.n, x.c, oh, ow])
        let k = window.kernelSize, s = window.stride, p = window.padding, scale = 1 / Float(k * k)
        let src = x.data, dst = output.data
        parallelFor(x.n * x.c) { plane in
            let xin = src + plane * h * w, y = dst + plane * oh * ow
            for oy in 0..<oh {
                let y0 = oy * s - p
                for ox in 0..<ow {
                    let x0 = ox * s - p
                    var acc: Float = 0
                    for ky in max(0, y0)..<min(h, y0 + k) {
                        for kx in max(0, x0)..<min(w, x0 + k) { acc += xin[ky * w + kx] }
                    }
                    y[oy * ow + ox] = acc * scale
                }
            }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.shape == output.shape, "AvgPool2d.backward: gradient \(gradOutput.shape) vs forward output \(output.shape)")
        gradInput.resize(to: inputShape)
        gradInput.zero()
        let h = inputShape[2], w = inputShape[3], oh = output.h, ow = output.w
        let k = window.kernelSize, s = window.stride, p = window.padding, scale = 1 / Float(k * k)
        let g = gradOutput.data, dx = gradInput.data
        parallelFor(inputShape[0] * inputShape[1]) { plane in
            let d = dx + plane * h * w, gp = g + plane * oh * ow
            for oy in 0..<oh {
                let y0 = oy * s - p
                for ox in 0..<ow {
                    let x0 = ox * s - p
                    let v = gp[oy * ow + ox] * scale
                    for ky in max(0, y0)..<min(h, y0 + k) {
                        for kx in max(0, x0)..<min(w, x0 + k) { d[ky * w + kx] += v }
                    }
                }
            }
        }
        return gradInput
    }
}
