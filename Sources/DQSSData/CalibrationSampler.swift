// CalibrationSampler: fixed, seeded choices of images for calibration and for a held-out validation set.
//
// One permutation of 0..<total is drawn with RNG(seed).permutation(total). Calibration takes its first
// n entries; validation takes the next m, so the two sets are disjoint by construction (the DQSS search
// scores candidates on images it did not calibrate on). Indices are returned in permutation order.

import DQSSTensor

public struct CalibrationSampler: Sendable {
    public let total: Int
    public let seed: UInt64
    private let order: [Int]

    public init(total: Int, seed: UInt64) {
        precondition(total >= 0)
        self.total = total; self.seed = seed
        var rng = RNG(seed: seed)
        order = rng.permutation(total)
    }

    /// n distinct indices in 0..<total.
    public func calibrationIndices(_ n: Int) throws -> [Int] {
        guard n >= 0, n <= total else {
            throw DQSSDataError("calibration needs \(n) images but the split has \(total)")
        }
        return Array(order[0..<n])
    }

    /// m distinct indices disjoint from `calibrationIndices(calibrationCount)`.
    public func validationIndices(_ m: Int, afterCalibration calibrationCount: Int) throws -> [Int] {
        guard m >= 0, calibrationCount >= 0, calibrationCount + m <= total else {
            throw DQSSDataError("\(calibrationCount) calibration + \(m) validation images exceed the \(total) images of the split")
        }
        return Array(order[calibrationCount ..< calibrationCount + m])
    }
}
