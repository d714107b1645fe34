// ADMM threshold (ALGORITHMS.md §3.4): the projection sub-problem of Leng et al. 2018, "find α and
// integer codes q minimising ‖x − α q‖²", solved by alternating least squares with MNN's constants:
//
//   α₀ = max|x| / (q_max · c)                      c = 2.5 activations, 1.25 weights
//   repeat K times (300 activations, 1000 weights):
//       q = clamp(round(x / α), q_min, q_max)        (stop when q did not change: α is a fixed point)
//       α = ⟨q, x⟩ / (⟨q, q⟩ + 1e-9)
//   T = α · q_max                                   (may exceed max|x|: a least-squares fit, not a clip)
//
// Implementation: the codes are a non-decreasing function of x, so on SORTED values each code level is
// a contiguous run. One binary search per level boundary plus prefix sums of x give ⟨q, x⟩ and ⟨q, q⟩
// in O(levels · log n) per iteration instead of O(n), identical codes to the elementwise definition
// (the same Double expression decides each element's code). Sorting also makes the result independent
// of the order in which calibration batches arrived.
//
// Distributed (`communicator` with several ranks, each holding its own sorted values): max|x| is
// allreduced (max), and each iteration allreduces (sum) [⟨q,x⟩, ⟨q,q⟩, codes-changed flag] computed on
// the local values — one collective per iteration; every rank then takes the same α.

import Foundation
import DQSSDistributed

public struct ADMMResult: Sendable {
    public let alpha: Double
    public let threshold: Double
    public let iterations: Int
    /// ‖x − α q‖² after each α update (non-increasing; §11.4 property).
    public let errors: [Double]
}

public enum ADMMScale {
    /// MNN constants (§3.4).
    public static let activationInit = 2.5, activationIterations = 300
    public static let weightInit = 1.25, weightIterations = 1000

    /// ALS on `sorted` (ascending) values.
    /// - Parameters:
    ///   - initDivisor: c in α₀ = max|x| / (q_max · c).
    ///   - iterations: K.
    ///   - recordErrors: also compute ‖x − α q‖² after every update (O(n) each; tests only).
    public static func solve(sorted x: [Float], quantizer: UniformQuantizer, initDivisor c: Double,
                             iterations K: Int, recordErrors: Bool = false,
                             communicator: (any Communicator)? = nil) -> ADMMResult {
        let n = x.count
        let qmax = quantizer.qmax, qmin = quantizer.qmin
        let ranks = communicator.flatMap { $0.size > 1 ? $0 : nil }
        var maxAbs = n == 0 ? 0 : Double(max(abs(x[0]), abs(x[n - 1])))
        if let ranks { maxAbs = ranks.allreduce(maxAbs, .max) }
        if !(maxAbs > 0) { return ADMMResult(alpha: 0, threshold: 0, iterations: 0, errors: []) }
        // prefix[i] = Σ_{k<i} x[k]
        var prefix = [Double](repeating: 0, count: n + 1)
        for i in 0..<n { prefix[i + 1] = prefix[i] + Double(x[i]) }

        var alpha = maxAbs / (Double(qmax) * c)
        let levels = qmax - qmin + 1
        // start[j] = first index whose code is ≥ qmin + j (j = 1 ..< levels); codes are monotone in x.
        var starts = [Int](repeating: -1, count: levels)
        var previous: [Int] = []
        var errors: [Double] = []
        var iteration = 0

        func code(_ v: Float, _ a: Double) -> Int {
            let r = (Double(v) / a).rounded(.toNearestOrEven)
            return Int(min(max(r, Double(qmin)), Double(qmax)))
        }

        while iteration < K {
            // Codes step: boundaries by binary search on the monotone code function.
            starts[0] = 0
            for j in 1..<levels {
                let level = qmin + j
                var lo = starts[j - 1], hi = n
                while lo < hi {
                    let mid = (lo + hi) >> 1
                    if code(x[mid], alpha) >= level { hi = mid } else { lo = mid + 1 }
                }
                starts[j] = lo
            }
            var changed = starts != previous
            if ranks == nil && !changed { break }   // q unchanged: α is a fixed point
            previous = starts
            // Least-squares step.
            var qx = 0.0, qq = 0.0
            for j in 0..<levels {
                let lo = starts[j], hi = j + 1 < levels ? starts[j + 1] : n
                if hi <= lo { continue }
                let level = Double(qmin + j)
                if level == 0 { continue }
                qx += level * (prefix[hi] - prefix[lo])
                qq += level * level * Double(hi - lo)
            }
            if let ranks {
                var sums = [qx, qq, changed ? 1 : 0]
                ranks.allreduce(&sums, .sum)
                qx = sums[0]
                qq = sums[1]
                changed = sums[2] != 0
                if !changed { break }   // no rank's codes changed
            }
            iteration += 1
            alpha = qx / (qq + 1e-9)
            if recordErrors {
                var e = 0.0
                for j in 0..<levels {
                    let lo = starts[j], hi = j + 1 < levels ? starts[j + 1] : n
                    let v = alpha * Double(qmin + j)
                    for i in lo..<hi { let d = Double(x[i]) - v; e += d * d }
                }
                errors.append(e)
            }
            if !(alpha > 0) { break }
        }
        return ADMMResult(alpha: alpha, threshold: alpha * Double(qmax), iterations: iteration, errors: errors)
    }

    /// ALS on unsorted values (sorts a copy).
    public static func solve(_ x: [Float], quantizer: UniformQuantizer, initDivisor c: Double,
                             iterations K: Int, recordErrors: Bool = false) -> ADMMResult {
        solve(sorted: x.sorted(), quantizer: quantizer, initDivisor: c, iterations: K,
              recordErrors: recordErrors)
    }
}
