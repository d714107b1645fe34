// BucketedGradientReducer: `BatchGradientReducer` over a Communicator with few, large allreduce calls.
//
// The gradients of the parameters (in the given order) are laid end to end and cut into buckets of at
// most `bucketElements` floats (a parameter larger than a bucket gets a bucket of its own): each bucket
// is one contiguous buffer, filled with n_r/N · g (scaled copy), allreduced (sum) in place, and copied
// back. Per-call latency (tens of µs) is paid once per bucket instead of once per parameter tensor;
// buckets of 4 M floats (16 MB) keep the extra memory bounded (PyTorch DDP uses 25 MB buckets).
// The buffers are allocated on the first call and reused while the parameter list stays the same.
//
// Instrumentation for the benchmark: bytes allreduced and seconds spent per call and in total.

import DQSSTensor
import DQSSLayers

public final class BucketedGradientReducer: BatchGradientReducer {
    public let communicator: any Communicator
    public let bucketElements: Int

    /// Bytes sent into allreduce by the last call, and in total.
    public private(set) var lastBytes = 0
    public private(set) var totalBytes = 0
    /// Wall seconds inside the collective calls (waiting for the slowest rank included).
    public private(set) var lastSeconds = 0.0
    public private(set) var totalSeconds = 0.0
    public private(set) var calls = 0

    /// Bucket b holds parameters `layout[b]`; `buffers[b]` has their total element count.
    private var layout: [[Int]] = []
    private var buffers: [Tensor] = []
    private var layoutKey: [ObjectIdentifier] = []

    public init(communicator: any Communicator, bucketElements: Int = 1 << 22) {
        precondition(bucketElements > 0, "bucket size must be positive")
        self.communicator = communicator
        self.bucketElements = bucketElements
    }

    /// Number of buckets (= allreduce calls per step) for the last parameter list.
    public var bucketCount: Int { buffers.count }

    /// Bucket assignment of parameters with `counts` elements, in order (exposed for tests).
    public static func buckets(counts: [Int], bucketElements: Int) -> [[Int]] {
        var out: [[Int]] = [], current: [Int] = [], filled = 0
        for (i, c) in counts.enumerated() {
            if !current.isEmpty && filled + c > bucketElements {
                out.append(current)
                current = []
                filled = 0
            }
            current.append(i)
            filled += c
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    private func prepare(_ params: [Parameter]) {
        let key = params.map(ObjectIdentifier.init)
        if key == layoutKey { return }
        layoutKey = key
        layout = Self.buckets(counts: params.map(\.grad.count), bucketElements: bucketElements)
        buffers = layout.map { b in Tensor(shape: [b.reduce(0) { $0 + params[$1].grad.count }]) }
    }

    public func averageGradients(_ parameters: [Parameter], localCount: Int, globalCount: Int) {
        precondition(globalCount > 0 && localCount >= 0 && localCount <= globalCount,
                     "bad batch counts \(localCount) of \(globalCount)")
        let params = parameters.filter(\.requiresGrad)
        prepare(params)
        let s = Float(localCount) / Float(globalCount)
        var bytes = 0, seconds = 0.0
        let clock = ContinuousClock()
        for (b, members) in layout.enumerated() {
            let buffer = buffers[b].data
            var offset = 0
            for i in members {
                let g = params[i].grad, n = g.count, src = g.data, dst = buffer + offset
                if localCount == 0 {
                    dst.update(repeating: 0, count: n)   // NaN/Inf from an empty rank must not leak in
                } else if s == 1 {
                    dst.update(from: src, count: n)
                } else {
                    for k in 0..<n { dst[k] = src[k] * s }
                }
                offset += n
            }
            let start = clock.now
            communicator.allreduce(buffer, count: offset, .sum)
            let d = clock.now - start
            seconds += Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
            bytes += offset * 4
            offset = 0
            for i in members {
                let g = params[i].grad
                g.data.update(from: buffer + offset, count: g.count)
                offset += g.count
            }
        }
        lastBytes = bytes
        totalBytes += bytes
        lastSeconds = seconds
        totalSeconds += seconds
        calls += 1
    }
}
