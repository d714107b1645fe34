// PairedTop1: is the final network's top-1 difference from another row more than the test split's noise?
//
// Two networks evaluated on the same test images differ only on the images exactly one of them classifies
// correctly: b (only the final network right) and c (only the other). McNemar's exact test asks whether
// b and c differ more than b + c fair coin flips would: under "equally accurate", b ~ Binomial(b + c, ½),
//
//   p = min(1, 2 · Σ_{i ≤ min(b, c)} C(b + c, i) / 2^(b + c))          (two-sided)
//
// and the difference in points, (b − c) / N · 100, has the standard error √(b + c − (b − c)² / N) / N · 100
// (the paired proportions' difference). On CIFAR-10 test-jpeg two quantized networks within a point of each
// other disagree on a few hundred images, so a difference of 0.2 points (20 images) is within one standard
// error: which of two such networks is "better" the test split itself does not say. Under mpirun each rank
// counts b and c on its own test images and the counts are summed.

import Foundation

/// The final network against one other row on the same test images.
public struct PairedTop1: Codable, Sendable, Equatable {
    /// The other row's label ("EQ", "greedy from uniform", "DQSS-None", ...).
    public var row: String
    /// Test images only the final network classifies correctly, and only the other row.
    public var finalOnly: Int
    public var rowOnly: Int
    public var total: Int

    public init(row: String, finalOnly: Int, rowOnly: Int, total: Int) {
        self.row = row
        self.finalOnly = finalOnly
        self.rowOnly = rowOnly
        self.total = total
    }

    /// Final minus the other row, in top-1 points.
    public var difference: Double { 100 * Double(finalOnly - rowOnly) / Double(max(total, 1)) }

    /// Standard error of `difference`, in points.
    public var standardError: Double {
        let n = Double(max(total, 1)), b = Double(finalOnly), c = Double(rowOnly)
        return 100 * max(0, b + c - (b - c) * (b - c) / n).squareRoot() / n
    }

    /// McNemar's exact two-sided p-value.
    public var pValue: Double { Self.mcNemarPValue(finalOnly, rowOnly) }

    public static func mcNemarPValue(_ b: Int, _ c: Int) -> Double {
        precondition(b >= 0 && c >= 0, "discordant counts must be ≥ 0 (got \(b), \(c))")
        let n = b + c, k = min(b, c)
        guard n > 0 && 2 * k < n else { return 1 }
        // Σ_{i ≤ k} C(n, i) / 2^n in log space (n runs to thousands).
        let logHalf = Double(n) * log(0.5)
        var logChoose = 0.0, tail = exp(logHalf)   // i = 0
        if k > 0 {
            for i in 1...k {
                logChoose += log(Double(n - i + 1)) - log(Double(i))   // log C(n, i) from log C(n, i − 1)
                tail += exp(logChoose + logHalf)
            }
        }
        return min(1, 2 * tail)
    }

    public enum CodingKeys: String, CodingKey { case row, finalOnly, rowOnly, total, difference, standardError, pValue }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(row, forKey: .row)
        try c.encode(finalOnly, forKey: .finalOnly)
        try c.encode(rowOnly, forKey: .rowOnly)
        try c.encode(total, forKey: .total)
        try c.encode(difference, forKey: .difference)
        try c.encode(standardError, forKey: .standardError)
        try c.encode(pValue, forKey: .pValue)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(row: try c.decode(String.self, forKey: .row), finalOnly: try c.decode(Int.self, forKey: .finalOnly),
                  rowOnly: try c.decode(Int.self, forKey: .rowOnly), total: try c.decode(Int.self, forKey: .total))
    }
}
