// ReLU: y = max(x, 0). Backward passes the gradient where x > 0 (PyTorch convention: 0 at x = 0), read from
// the saved output: y > 0 exactly where x > 0.

import DQSSTensor

public final class ReLU: UnaryLayer {
    public var isTraining = false
    private let run = OutputActivation(name: "ReLU", minChunk: 1 << 15)

    public init() {}

    public func forward(_ x: Tensor) -> Tensor {
        run.forward(x) { x, y, r in vectorReLU(x + r.lowerBound, y + r.lowerBound, r.count) }
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        run.backward(gradOutput) { y, g, dx, r in
            vectorReLUBackward(y + r.lowerBound, g + r.lowerBound, dx + r.lowerBound, r.count)
        }
    }
}
