// Softmax cross-entropy over logits [N, K] with integer labels, averaged over the batch (PyTorch
// F.cross_entropy, reduction "mean"):
//   L = (1/N) Σ_n [ log Σ_k exp(z_nk − m_n) + m_n − z_n,y_n ],  m_n = max_k z_nk (log-sum-exp, stable)
//   dL/dz_nk = (softmax(z_n)_k − [k = y_n]) / N

import Foundation
import DQSSTensor

public final class SoftmaxCrossEntropy {
    private let probabilities = Tensor(shape: [0])
    private let gradLogits = Tensor(shape: [0])
    private var labels: [Int] = []

    public init() {}

    /// Softmax probabilities of the last forward, [N, K].
    public var lastProbabilities: Tensor { probabilities }

    /// Mean loss over the batch. `logits` is [N, K] (or [N, K, 1, 1]); labels are in 0..<K.
    public func forward(logits: Tensor, labels: [Int]) -> Float {
        let n = labels.count
        precondition(n > 0 && logits.count % n == 0 && logits.shape[0] == n,
                     "SoftmaxCrossEntropy: logits \(logits.shape) for \(n) labels")
        let k = logits.count / n
        for y in labels { precondition(y >= 0 && y < k, "SoftmaxCrossEntropy: label \(y) outside 0..<\(k)") }
        self.labels = labels
        probabilities.resize(to: [n, k])
        var total = 0.0
        for i in 0..<n {
            let z = logits.data + i * k, p = probabilities.data + i * k
            var m = -Float.infinity
            for j in 0..<k { m = max(m, z[j]) }
            var s = 0.0
            for j in 0..<k { let e = Foundation.exp(Double(z[j] - m)); p[j] = Float(e); s += e }
            for j in 0..<k { p[j] = Float(Double(p[j]) / s) }
            total += Foundation.log(s) + Double(m) - Double(z[labels[i]])
        }
        return Float(total / Double(n))
    }

    /// dL/dlogits for the last forward, shaped [N, K] (a buffer owned by the loss).
    public func backward() -> Tensor {
        let n = labels.count, k = probabilities.count / max(n, 1)
        gradLogits.assign(probabilities)
        let g = gradLogits.data, scale = 1 / Float(n)
        for i in 0..<n { g[i * k + labels[i]] -= 1 }
        for j in 0..<(n * k) { g[j] *= scale }
        return gradLogits
    }
}
