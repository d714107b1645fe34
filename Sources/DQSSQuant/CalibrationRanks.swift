// Combining calibration statistics across the ranks of a data-parallel job (ALGORITHMS.md §3), so that
// every threshold is the one a single process computes over all calibration images:
//
//   max|A|, min A     allreduce max / min (exact)
//   element counts    allreduce sum (exact)
//   |A| histograms    pass 2 fills over the GLOBAL range max|A| (merged after pass 1), then allreduce
//                     sum of the counts (integers in Double: exact below 2^53)
//   EQ                each rank scores its own images; the per-image cosines are gathered and summed
//                     in sorted order exactly as one process does (EasyQuantCalibrator)
//   ADMM              each ALS iteration allreduces ⟨q,x⟩, ⟨q,q⟩ and a "codes changed" flag
//                     (ADMMScale.solve(communicator:)) — the streaming form of §3.4, equal to float
//                     rounding of the Double sums
//
// Each rank observes only its own calibration images (its shard); `firstImage` is the global index of
// its first one (EQ's "first M images" limit is global).

import DQSSDistributed

extension CalibrationObserver {
    /// After pass 1: max|A|, min A and counts of every observer combined over the ranks (one allreduce
    /// per statistic, all layers at once).
    static func combineFirstPass(_ observers: [CalibrationObserver], communicator: any Communicator) {
        if communicator.size == 1 || observers.isEmpty { return }
        var maxima = observers.map(\.maxAbs.maxAbs)
        var minima = observers.map(\.minimum)
        var counts = observers.map { Int64($0.maxAbs.count) }
        communicator.allreduce(&maxima, .max)
        communicator.allreduce(&minima, .min)
        communicator.allreduce(&counts, .sum)
        for (i, o) in observers.enumerated() {
            o.maxAbs = MaxAbsStatistic(maxAbs: maxima[i], count: Int(counts[i]))
            o.minimum = minima[i]
        }
    }

    /// After pass 2: the histograms (over the shared range max|A|) summed over the ranks. A rank that saw
    /// no image in pass 2 contributes an empty histogram over the same range.
    static func combineHistograms(_ observers: [CalibrationObserver], communicator: any Communicator) {
        if communicator.size == 1 || observers.isEmpty { return }
        let bins = observers.map(\.histogramBins)
        var all = [Double](repeating: 0, count: bins.reduce(0, +))
        var offset = 0
        for o in observers {
            if let h = o.histogram {
                for k in 0..<h.bins { all[offset + k] = h.counts[k] }
            }
            offset += o.histogramBins
        }
        communicator.allreduce(&all, .sum)
        offset = 0
        for o in observers {
            o.histogram = AbsHistogram(range: o.maxAbs.maxAbs, counts: Array(all[offset ..< offset + o.histogramBins]))
            offset += o.histogramBins
        }
    }
}
