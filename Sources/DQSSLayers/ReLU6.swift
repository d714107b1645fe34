// ReLU6: y = min(max(x, 0), 6) (MobileNetV2). Backward passes the gradient where 0 < x < 6
// (PyTorch: zero at both kinks).

import DQSSTensor

public final class ReLU6: UnaryLayer {
    public var isTraining = false
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    public init() {}

    public func forward(_ x: Tensor) -> Tensor {
        output.resize(to: x.shape)
        let src = x.data, dst = output.data
        parallelRanges(x.count, minChunk: 1 << 15) { r in
            for i in r { dst[i] = min(max(src[i], 0), 6) }
        }
        return output
    }

    /// Uses the saved output: 0 < y < 6 exactly where 0 < x < 6.
    public func backward(_ gradOutput: Tensor) -> Tensor {
        gradInput.resize(to: gradOutput.shape)
        let y = output.data, g = gradOutput.data, dx = gradInput.data
        parallelRanges(gradOutput.count, minChunk: 1 << 15) { r in
            for i in r { dx[i] = (y[i] > 0 && y[i] < 6) ? g[i] : 0 }
        }
        return gradInput
    }
}
