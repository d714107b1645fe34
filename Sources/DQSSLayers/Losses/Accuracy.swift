// Argmax predictions and top-k accuracy counts for logits [N, K] (ties: the lowest class index wins).

import DQSSTensor

/// The predicted class of each row of `logits` ([N, K] or [N, K, 1, 1]).
public func argmaxPredictions(_ logits: Tensor) -> [Int] {
    let n = logits.shape[0], k = logits.count / max(n, 1)
    return (0..<n).map { i in
        let z = logits.data + i * k
        var best = 0
        for j in 1..<max(k, 1) where z[j] > z[best] { best = j }
        return best
    }
}

/// How many rows have their label among the `k` highest logits (top-1 when k = 1).
public func correctCount(_ logits: Tensor, labels: [Int], topK k: Int = 1) -> Int {
    let n = labels.count, classes = logits.count / max(n, 1)
    precondition(logits.shape[0] == n, "correctCount: logits \(logits.shape) for \(n) labels")
    var correct = 0
    for i in 0..<n {
        let z = logits.data + i * classes, target = z[labels[i]]
        // Rank of the label: classes scoring strictly higher, plus equal ones with a lower index.
        var above = 0
        for j in 0..<classes where z[j] > target || (z[j] == target && j < labels[i]) { above += 1 }
        if above < k { correct += 1 }
    }
    return correct
}

/// Fraction of rows whose argmax equals the label.
public func accuracy(_ logits: Tensor, labels: [Int]) -> Double {
    labels.isEmpty ? 0 : Double(correctCount(logits, labels: labels)) / Double(labels.count)
}
