// Knowledge-distillation loss (ALGORITHMS.md §6 step 4, `--search-loss kd`): the KL divergence of the
// student's softmax from the teacher's (the FP32 network's), label-free, averaged over the batch:
//   L = (1/N) Σ_n Σ_k p_nk (log p_nk − log q_nk),   p = softmax(teacher_n), q = softmax(z_n)
//   dL/dz_nk = (q_nk − p_nk) / N
// (PyTorch F.kl_div(log_softmax(z), softmax(t), reduction "batchmean")). Terms with p_nk = 0 contribute 0.
// Log-sum-exp in Float64 on both sides, so that a one-hot-like teacher stays finite.

import Foundation
import DQSSTensor

public final class DistillationKL {
    private let studentProbabilities = Tensor(shape: [0])
    private let teacherProbabilities = Tensor(shape: [0])
    private let gradLogits = Tensor(shape: [0])
    private var n = 0

    public init() {}

    /// Mean KL(p_teacher ‖ q_student) over the batch; `logits` and `teacher` are [N, K] (or [N, K, 1, 1]).
    public func forward(logits: Tensor, teacher: Tensor) -> Float {
        let n = logits.shape[0]
        precondition(n > 0 && teacher.shape[0] == n && teacher.count == logits.count,
                     "DistillationKL: logits \(logits.shape) vs teacher logits \(teacher.shape)")
        let k = logits.count / n
        self.n = n
        studentProbabilities.resize(to: [n, k])
        teacherProbabilities.resize(to: [n, k])
        var total = 0.0
        for i in 0..<n {
            let ls = Self.logSoftmax(logits.data + i * k, k), lt = Self.logSoftmax(teacher.data + i * k, k)
            for j in 0..<k {
                studentProbabilities.data[i * k + j] = Float(Foundation.exp(ls[j]))
                teacherProbabilities.data[i * k + j] = Float(Foundation.exp(lt[j]))
            }
            total += Self.rowKL(teacher: lt, student: ls)
        }
        return Float(total / Double(n))
    }

    /// KL(p_teacher ‖ q_student) of every row, in Float64 (their mean is `forward`'s value up to its rounding
    /// to Float): the per-image scores of a paired comparison (PairedImprovement).
    public static func perRow(logits: Tensor, teacher: Tensor) -> [Double] {
        let n = logits.shape[0]
        precondition(n > 0 && teacher.shape[0] == n && teacher.count == logits.count,
                     "DistillationKL: logits \(logits.shape) vs teacher logits \(teacher.shape)")
        let k = logits.count / n
        return (0..<n).map { i in rowKL(teacher: logSoftmax(teacher.data + i * k, k), student: logSoftmax(logits.data + i * k, k)) }
    }

    /// Σ_k p_k (log p_k − log q_k) of one row from its two log-softmaxes (terms with p_k = 0 contribute 0).
    static func rowKL(teacher lt: [Double], student ls: [Double]) -> Double {
        var kl = 0.0
        for j in lt.indices {
            let p = Foundation.exp(lt[j])
            if p > 0 { kl += p * (lt[j] - ls[j]) }
        }
        return kl
    }

    /// dL/dlogits for the last forward, [N, K] (a buffer owned by the loss).
    public func backward() -> Tensor {
        gradLogits.assign(studentProbabilities)
        let g = gradLogits.data, p = teacherProbabilities.data, scale = 1 / Float(max(n, 1))
        for j in 0..<gradLogits.count { g[j] = (g[j] - p[j]) * scale }
        return gradLogits
    }

    /// log softmax of one row, in Float64.
    static func logSoftmax(_ z: UnsafeMutablePointer<Float>, _ k: Int) -> [Double] {
        var m = -Double.infinity
        for j in 0..<k { m = max(m, Double(z[j])) }
        var s = 0.0
        for j in 0..<k { s += Foundation.exp(Double(z[j]) - m) }
        let lse = m + Foundation.log(s)
        return (0..<k).map { Double(z[$0]) - lse }
    }
}
