// ReLU: y = max(x, 0). Backward passes the gradient where x > 0 (PyTorch convention: 0 at x = 0).

import DQSSTensor

public final class ReLU: UnaryLayer {
    public var isTraining = false
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    public init() {}

    public func forward(_ x: Tensor) -> Tensor {
        output.resize(to: x.shape)
        let src = x.data, dst = output.data
        parallelRanges(x.count, minChunk: 1 << 15) { r in
            vectorReLU(src + r.lowerBound, dst + r.lowerBound, r.count)
        }
        return output
    }

    /// Uses the saved output: y > 0 exactly where x > 0.
    public func backward(_ gradOutput: Tensor) -> Tensor {
        gradInput.resize(to: gradOutput.shape)
        let y = output.data, g = gradOutput.data, dx = gradInput.data
        parallelRanges(gradOutput.count, minChunk: 1 << 15) { r in
            vectorReLUBackward(y + r.lowerBound, g + r.lowerBound, dx + r.lowerBound, r.count)
        }
        return gradInput
    }
}
