// ElementwiseLoss: a loss that is a mean over elements of a function of d = p − t (L1Loss, MSELoss):
//   L = (1/M) Σ ρ(d_i),  dL/dp_i = ρ'(d_i) / M.
// The differences are kept from the forward for the backward; ρ and ρ' stay in each loss's file.

import DQSSTensor

struct ElementwiseLoss {
    let name: String
    let difference = Tensor(shape: [0])
    let gradPrediction = Tensor(shape: [0])

    /// (1/M) Σ ρ(p − t), summed in Double.
    func forward(_ prediction: Tensor, _ target: Tensor, _ rho: (Float) -> Double) -> Float {
        precondition(prediction.count == target.count && prediction.count > 0,
                     "\(name): prediction \(prediction.shape) vs target \(target.shape)")
        difference.resize(to: prediction.shape)
        var s = 0.0
        for i in 0..<prediction.count {
            let d = prediction.data[i] - target.data[i]
            difference.data[i] = d
            s += rho(d)
        }
        return Float(s / Double(prediction.count))
    }

    /// ρ'(d) / M for every saved difference d; `derivative(d, M)` returns it.
    func backward(_ derivative: (_ d: Float, _ m: Float) -> Float) -> Tensor {
        gradPrediction.resize(to: difference.shape)
        let m = Float(difference.count)
        for i in 0..<difference.count { gradPrediction.data[i] = derivative(difference.data[i], m) }
        return gradPrediction
    }
}
