// The significance gate of the greedy refinement (`dqss search --mode ptq --refine-significance Z`).
//
// A refinement trial is kept in §6.2 when its mean validation score is lower than the current network's.
// Over the ~100–450 trials of a refinement that rule keeps every change that happens to fit the 1,000
// validation images, and the refined network's score there is then biased low (docs/results.md: its score on
// further images is 5–15 % worse). Both networks are scored on the same images, so the per-image score
// differences d_i = trial_i − current_i are paired; the gate keeps a change only when their mean is below zero
// by more than Z standard errors (a one-sided paired z-test):
//
//   d̄ = Σ d_i / n,   s² = (Σ d_i² − n d̄²) / (n − 1),   keep  ⇔  d̄ < 0  and  d̄ + Z · s / √n < 0.
//
// Z = 0 is the plain rule (d̄ < 0). The three sums are what ranks allreduce: the gate of N ranks is the
// gate of one process over all images.

/// The paired differences of a trial's per-image scores from the current network's, as three sums.
import DQSSDistributed

public struct PairedImprovement: Sendable, Equatable {
    public var sum: Double
    public var sumOfSquares: Double
    public var count: Int

    public init(sum: Double, sumOfSquares: Double, count: Int) {
        self.sum = sum
        self.sumOfSquares = sumOfSquares
        self.count = count
    }

    /// d_i = trial[i] − current[i] over this process's images.
    public init(trial: [Double], current: [Double]) {
        precondition(trial.count == current.count, "\(trial.count) trial scores vs \(current.count) current scores")
        var s = 0.0, q = 0.0
        for (t, c) in zip(trial, current) {
            let d = t - c
            s += d
            q += d * d
        }
        self.init(sum: s, sumOfSquares: q, count: trial.count)
    }

    /// The sums over every rank's images (each rank holds its own; one process: unchanged).
    public func summed(over communicator: any Communicator) -> PairedImprovement {
        guard communicator.size > 1 else { return self }
        var sums = [sum, sumOfSquares, Double(count)]
        communicator.allreduce(&sums, .sum)
        return PairedImprovement(sum: sums[0], sumOfSquares: sums[1], count: Int(sums[2].rounded()))
    }

    public var mean: Double { count > 0 ? sum / Double(count) : 0 }

    /// s / √n, the standard error of the mean difference (0 with fewer than two images).
    public var standardError: Double {
        guard count > 1 else { return 0 }
        let n = Double(count), m = mean
        let variance = max(0, (sumOfSquares - n * m * m) / (n - 1))
        return (variance / n).squareRoot()
    }

    /// True when the trial's mean score is lower by more than `z` standard errors.
    public func isImprovement(z: Double) -> Bool {
        mean < 0 && mean + z * standardError < 0
    }
}
