// Mean squared error, mean over all elements (PyTorch nn.MSELoss): L = (1/M) Σ (p − t)²;
// dL/dp = 2 (p − t) / M.

import DQSSTensor

public final class MSELoss {
    private let difference = Tensor(shape: [0])
    private let gradPrediction = Tensor(shape: [0])

    public init() {}

    public func forward(_ prediction: Tensor, _ target: Tensor) -> Float {
        precondition(prediction.count == target.count && prediction.count > 0,
                     "MSELoss: prediction \(prediction.shape) vs target \(target.shape)")
        difference.resize(to: prediction.shape)
        var s = 0.0
        for i in 0..<prediction.count {
            let d = prediction.data[i] - target.data[i]
            difference.data[i] = d
            s += Double(d) * Double(d)
        }
        return Float(s / Double(prediction.count))
    }

    public func backward() -> Tensor {
        gradPrediction.resize(to: difference.shape)
        let scale = 2 / Float(difference.count)
        for i in 0..<difference.count { gradPrediction.data[i] = scale * difference.data[i] }
        return gradPrediction
    }
}
