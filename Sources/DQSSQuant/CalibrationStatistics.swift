// Statistics of one tensor accumulated over calibration batches (ALGORITHMS.md §3).
//
// Every statistic is a value that can be MERGED with one gathered elsewhere (another batch, another
// MPI rank): maxima by max, histograms by elementwise sum over a shared range, samples by union. The
// thresholds computed from a merged statistic do not depend on the order in which batches arrived:
// max is exact, histogram counts are integers (exact in Double below 2^53), and a sample is sorted
// before use.

import DQSSTensor

/// Running max|x| (§3.1). Merge: max.
public struct MaxAbsStatistic: Sendable, Equatable {
    public private(set) var maxAbs: Float = 0
    public private(set) var count: Int = 0

    public init() {}

    /// A statistic with known values (merging from other ranks).
    public init(maxAbs: Float, count: Int) {
        self.maxAbs = maxAbs
        self.count = count
    }

    public mutating func observe(_ x: UnsafePointer<Float>, count n: Int) {
        var m = maxAbs
        for i in 0..<n { m = max(m, abs(x[i])) }
        maxAbs = m
        count += n
    }

    public mutating func observe(_ x: Tensor) { observe(x.data, count: x.count) }

    public mutating func merge(_ other: MaxAbsStatistic) {
        maxAbs = max(maxAbs, other.maxAbs)
        count += other.count
    }
}

/// Histogram of |x| with `bins` equal bins over [0, range] (§3.2 step 1): bin k holds
/// k·w ≤ |x| < (k+1)·w with w = range / bins; a value equal to `range` goes in the last bin (values
/// above the range, which a correct two-pass use never produces, are clamped into it too).
/// Merge: elementwise sum; both histograms must share `range` and `bins`.
public struct AbsHistogram: Sendable, Equatable {
    public let range: Float
    public private(set) var counts: [Double]

    public var bins: Int { counts.count }
    /// w = range / bins.
    public var binWidth: Double { Double(range) / Double(counts.count) }

    public init(range: Float, bins: Int = 2048) {
        precondition(bins > 0, "histogram needs at least one bin")
        self.range = range
        self.counts = [Double](repeating: 0, count: bins)
    }

    /// A histogram with given counts (histogram-level oracles, merging from other ranks).
    public init(range: Float, counts: [Double]) {
        precondition(!counts.isEmpty, "histogram needs at least one bin")
        self.range = range
        self.counts = counts
    }

    public mutating func observe(_ x: UnsafePointer<Float>, count n: Int) {
        if range <= 0 || !range.isFinite {
            // All-zero tensor: every value sits at 0 (bin 0).
            counts[0] += Double(n)
            return
        }
        let b = counts.count
        let perUnit = Double(b) / Double(range)
        let last = b - 1
        counts.withUnsafeMutableBufferPointer { h in
            for i in 0..<n {
                // Compared as a Double first: Int(_:) traps on NaN/Inf and on values past Int.max, which a
                // non-finite activation would otherwise turn into a crash. Such values land in the last bin.
                let v = Double(abs(x[i])) * perUnit
                h[v < Double(last) ? Int(v) : last] += 1
            }
        }
    }

    public mutating func observe(_ x: Tensor) { observe(x.data, count: x.count) }

    public mutating func merge(_ other: AbsHistogram) {
        precondition(other.range == range && other.bins == bins,
                     "merging histograms over different ranges (\(range) vs \(other.range))")
        for k in 0..<counts.count { counts[k] += other.counts[k] }
    }

    /// The two-pass histogram of a whole tensor: range = max|x|, then fill.
    public static func of(_ x: Tensor, bins: Int = 2048) -> AbsHistogram {
        var h = AbsHistogram(range: x.maxAbs(), bins: bins)
        h.observe(x)
        return h
    }
}

/// All observed values of a tensor (ADMM, §3.4, works on the activation over all calibration images).
/// Merge: union. `canonicalValues(limit:seed:)` sorts them (so the result is order-independent) and,
/// above `limit` elements, keeps a fixed-seed uniform subsample of exactly `limit` of them.
public struct ActivationSample: Sendable {
    public private(set) var values: [Float] = []

    public init() {}
    public init(values: [Float]) { self.values = values }

    public var count: Int { values.count }

    public mutating func observe(_ x: UnsafePointer<Float>, count n: Int) {
        values.append(contentsOf: UnsafeBufferPointer(start: x, count: n))
    }

    public mutating func observe(_ x: Tensor) { observe(x.data, count: x.count) }

    public mutating func merge(_ other: ActivationSample) { values += other.values }

    /// Default cap on the elements ADMM iterates over (§3.4: 2^26).
    public static let defaultLimit = 1 << 26

    /// Sorted values; if more than `limit`, a uniform subsample of exactly `limit` of the sorted values
    /// chosen by selection sampling (Knuth's Algorithm S) from a fixed seed.
    public func canonicalValues(limit: Int = defaultLimit, seed: UInt64 = 0x5EED_ADA1) -> [Float] {
        var sorted = values
        sorted.sort()
        return Self.subsample(sorted, limit: limit, seed: seed)
    }

    static func subsample(_ sorted: [Float], limit: Int, seed: UInt64) -> [Float] {
        let n = sorted.count
        if n <= limit { return sorted }
        var rng = RNG(seed: seed)
        var out: [Float] = []
        out.reserveCapacity(limit)
        var needed = limit
        for i in 0..<n where needed > 0 {
            // Keep element i with probability needed / (n − i): exactly `limit` are kept, uniformly.
            if rng.uniformDouble() * Double(n - i) < Double(needed) {
                out.append(sorted[i])
                needed -= 1
            }
        }
        return out
    }
}
