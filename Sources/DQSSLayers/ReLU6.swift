// ReLU6: y = min(max(x, 0), 6) (MobileNetV2). Backward passes the gradient where 0 < x < 6 (PyTorch: zero
// at both kinks), read from the saved output: 0 < y < 6 exactly where 0 < x < 6.

import DQSSTensor

public final class ReLU6: UnaryLayer {
    public var isTraining = false
    private let run = OutputActivation(name: "ReLU6", minChunk: 1 << 15)

    public init() {}

    public func forward(_ x: Tensor) -> Tensor {
        run.forward(x) { x, y, r in for i in r { y[i] = min(max(x[i], 0), 6) } }
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        run.backward(gradOutput) { y, g, dx, r in for i in r { dx[i] = (y[i] > 0 && y[i] < 6) ? g[i] : 0 } }
    }
}
