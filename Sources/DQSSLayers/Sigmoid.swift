// Sigmoid: y = 1 / (1 + e^(−x)) (PyTorch nn.Sigmoid). Backward: dx = dy · y · (1 − y), from the saved output.

import Foundation
import DQSSTensor

public final class Sigmoid: UnaryLayer {
    public var isTraining = false
    private let run = OutputActivation(name: "Sigmoid", minChunk: 1 << 14)

    public init() {}

    public func forward(_ x: Tensor) -> Tensor {
        run.forward(x) { x, y, r in for i in r { y[i] = 1 / (1 + Foundation.exp(-x[i])) } }
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        run.backward(gradOutput) { y, g, dx, r in for i in r { dx[i] = g[i] * y[i] * (1 - y[i]) } }
    }
}
