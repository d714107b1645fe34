// L1 loss, mean over all elements (PyTorch nn.L1Loss): L = (1/M) Σ |p − t|;  dL/dp = sign(p − t) / M
// (0 where p = t, as PyTorch's sign).

import DQSSTensor

public final class L1Loss {
    private let loss = ElementwiseLoss(name: "L1Loss")

    public init() {}

    public func forward(_ prediction: Tensor, _ target: Tensor) -> Float {
        loss.forward(prediction, target) { Double(abs($0)) }
    }

    public func backward() -> Tensor {
        loss.backward { d, m in d > 0 ? 1 / m : (d < 0 ? -1 / m : 0) }
    }
}
