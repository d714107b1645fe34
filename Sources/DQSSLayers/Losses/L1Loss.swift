// L1 loss, mean over all elements (PyTorch nn.L1Loss): L = (1/M) Σ |p − t|;  dL/dp = sign(p − t) / M
// (0 where p = t, as PyTorch's sign).

import DQSSTensor

public final class L1Loss {
    private let difference = Tensor(shape: [0])
    private let gradPrediction = Tensor(shape: [0])

    public init() {}

    public func forward(_ prediction: Tensor, _ target: Tensor) -> Float {
        precondition(prediction.count == target.count && prediction.count > 0,
                     "L1Loss: prediction \(prediction.shape) vs target \(target.shape)")
        difference.resize(to: prediction.shape)
        var s = 0.0
        for i in 0..<prediction.count {
            let d = prediction.data[i] - target.data[i]
            difference.data[i] = d
            s += Double(abs(d))
        }
        return Float(s / Double(prediction.count))
    }

    public func backward() -> Tensor {
        gradPrediction.resize(to: difference.shape)
        let m = Float(difference.count)
        for i in 0..<difference.count {
            let d = difference.data[i]
            gradPrediction.data[i] = d > 0 ? 1 / m : (d < 0 ? -1 / m : 0)
        }
        return gradPrediction
    }
}
