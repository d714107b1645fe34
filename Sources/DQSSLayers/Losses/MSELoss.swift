// Mean squared error, mean over all elements (PyTorch nn.MSELoss): L = (1/M) Σ (p − t)²;
// dL/dp = 2 (p − t) / M.

import DQSSTensor

public final class MSELoss {
    private let loss = ElementwiseLoss(name: "MSELoss")

    public init() {}

    public func forward(_ prediction: Tensor, _ target: Tensor) -> Float {
        loss.forward(prediction, target) { Double($0) * Double($0) }
    }

    public func backward() -> Tensor {
        loss.backward { d, m in 2 / m * d }
    }
}
