// GlobalAvgPool2d: y[n, c, 0, 0] = mean over H×W of x[n, c] (PyTorch AdaptiveAvgPool2d(1)).
// Backward spreads dy / (H·W) over the plane.

import DQSSTensor

public final class GlobalAvgPool2d: UnaryLayer {
    public var isTraining = false
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var inputShape: [Int] = []

    public init() {}

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4, "GlobalAvgPool2d expects NCHW input, got \(x.shape)")
        inputShape = x.shape
        let hw = x.h * x.w, scale = 1 / Float(hw)
        output.resize(to: [x.n, x.c, 1, 1])
        let src = x.data, dst = output.data
        parallelFor(x.n * x.c, minChunk: 16) { plane in
            let p = src + plane * hw
            var acc: Float = 0
            for j in 0..<hw { acc += p[j] }
            dst[plane] = acc * scale
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.count == output.count, "GlobalAvgPool2d.backward: gradient \(gradOutput.shape) vs output \(output.shape)")
        gradInput.resize(to: inputShape)
        let hw = inputShape[2] * inputShape[3], scale = 1 / Float(hw)
        let g = gradOutput.data, dx = gradInput.data
        parallelFor(inputShape[0] * inputShape[1], minChunk: 16) { plane in
            (dx + plane * hw).update(repeating: g[plane] * scale, count: hw)
        }
        return gradInput
    }
}
