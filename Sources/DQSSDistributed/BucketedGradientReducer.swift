// BucketedGradientReducer: `BatchGradientReducer` over a Communicator with few, large allreduce calls,
// optionally overlapped with backward.
//
// The gradients of the parameters (in the given order) are laid end to end and cut into buckets of at
// most `bucketElements` floats (a parameter larger than a bucket gets a bucket of its own): each bucket
// is one contiguous buffer, filled with n_r/N · g (scaled copy), allreduced (sum) in place, and copied
// back. Per-call latency (tens of µs) is paid once per bucket instead of once per parameter tensor;
// buckets of 4 M floats (16 MB) keep the extra memory bounded (PyTorch DDP uses 25 MB buckets).
// The buffers are allocated on the first call and reused while the parameter list stays the same.
//
// Overlap (`overlapBackward(of:)`, as PyTorch DDP): the buckets are laid out in REVERSE parameter order
// (the order backward produces gradients), the reducer listens to the model's Sequentials
// (BackwardObserver), and between `beginBackward` and `averageGradients` it starts each bucket's
// non-blocking allreduce as soon as every parameter in it is final, and moves the started ones forward
// (MPI progresses only inside MPI calls) at every finished child. `averageGradients` then starts what is
// left, waits, and copies back. Buckets start strictly in index order, so every rank starts the same
// reductions in the same order. A parameter the tree does not announce (a quantizer's or θ's parameter
// held outside the layer tree) or that appears twice in the tree (tied weights: its gradient is final
// only at the end) is taken as final when backward has ended. The result equals the blocking path's
// (each element is reduced over the same ranks; only the cut into buckets differs).
//
// Instrumentation for the benchmark: bytes allreduced, seconds inside the collective calls (blocking) or
// waiting for them after backward (overlapped), per call and in total.

import DQSSTensor
import DQSSLayers

public final class BucketedGradientReducer: BatchGradientReducer, BackwardObserver {
    public let communicator: any Communicator
    public let bucketElements: Int

    /// Bytes sent into allreduce by the last call, and in total.
    public private(set) var lastBytes = 0
    public private(set) var totalBytes = 0
    /// Wall seconds spent waiting for the reduction in `averageGradients` (blocking: the whole collective,
    /// waiting for the slowest rank included; overlapped: what was not hidden behind backward).
    public private(set) var lastSeconds = 0.0
    public private(set) var totalSeconds = 0.0
    public private(set) var calls = 0
    /// Buckets whose allreduce was started during backward in the last call (overlapped mode).
    public private(set) var lastStartedDuringBackward = 0

    /// Bucket b holds parameters `layout[b]` (indices into the parameter list); `buffers[b]` has their
    /// total element count.
    private var layout: [[Int]] = []
    private var buffers: [Tensor] = []
    private var layoutKey: [ObjectIdentifier] = []
    private var params: [Parameter] = []

    // Overlap state.
    private weak var observedModel: (any Layer)?
    /// Parameter object → its index in `params` (rebuilt with the layout).
    private var indexOf: [ObjectIdentifier: Int] = [:]
    /// Layer object → indices of the parameters of its subtree that the tree announces (cached).
    private var announced: [ObjectIdentifier: [Int]] = [:]
    /// Parameters appearing exactly once in the observed tree: final when their subtree's backward has
    /// returned. The others (outside the tree, or tied) are final only when backward has ended.
    private var treeParameters: Set<ObjectIdentifier> = []
    private var bucketOf: [Int] = []
    private var armed = false
    private var scale: Float = 1
    private var emptyShare = false
    private var ready: [Bool] = []
    private var missing: [Int] = []
    private var pending: [(any PendingCollective)?] = []
    private var nextToStart = 0
    private var firstUnfinished = 0

    public init(communicator: any Communicator, bucketElements: Int = 1 << 22) {
        precondition(bucketElements > 0, "bucket size must be positive")
        self.communicator = communicator
        self.bucketElements = bucketElements
    }

    /// Number of buckets (= allreduce calls per step) for the last parameter list.
    public var bucketCount: Int { buffers.count }

    /// Whether the reductions are overlapped with the backward of a model.
    public var overlaps: Bool { observedModel != nil }

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

    /// From now on, reduce the gradients of `model`'s parameters while its backward runs: call
    /// `beginBackward` before each backward and `averageGradients` after it. Every rank must do the same.
    public func overlapBackward(of model: any Layer) {
        observedModel = model
        model.setBackwardObserver(self)
        var seen: [ObjectIdentifier: Int] = [:]
        for (_, p) in model.namedParameters() { seen[ObjectIdentifier(p), default: 0] += 1 }
        treeParameters = Set(seen.filter { $0.value == 1 }.keys)
        announced = [:]
        layoutKey = []   // the layout order changes
    }

    private func prepare(_ parameters: [Parameter]) {
        let key = parameters.map(ObjectIdentifier.init)
        if key == layoutKey { return }
        layoutKey = key
        params = parameters
        let counts = parameters.map(\.grad.count)
        if overlaps {
            // Backward produces the last parameters' gradients first; parameters the tree does not
            // announce go last, so that they do not hold back the buckets before them.
            let announcedLast = counts.indices.reversed().filter { treeParameters.contains(key[$0]) }
            let order = announcedLast + counts.indices.filter { !treeParameters.contains(key[$0]) }
            layout = Self.buckets(counts: order.map { counts[$0] }, bucketElements: bucketElements)
                .map { $0.map { order[$0] } }
        } else {
            layout = Self.buckets(counts: counts, bucketElements: bucketElements)
        }
        buffers = layout.map { b in Tensor(shape: [b.reduce(0) { $0 + counts[$1] }]) }
        bucketOf = [Int](repeating: 0, count: parameters.count)
        for (b, members) in layout.enumerated() { for i in members { bucketOf[i] = b } }
        indexOf = [:]
        for (i, p) in parameters.enumerated() { indexOf[ObjectIdentifier(p)] = i }
        announced = [:]
    }

    /// Arms the overlap for the backward that follows (no-op without `overlapBackward`): the gradients of
    /// `parameters` (those with `requiresGrad`) will be averaged with this rank's share n_r/N.
    public func beginBackward(_ parameters: [Parameter], localCount: Int, globalCount: Int) {
        guard overlaps else { return }
        precondition(globalCount > 0 && localCount >= 0 && localCount <= globalCount,
                     "bad batch counts \(localCount) of \(globalCount)")
        precondition(!armed, "beginBackward twice without averageGradients")
        prepare(parameters.filter(\.requiresGrad))
        scale = Float(localCount) / Float(globalCount)
        emptyShare = localCount == 0
        ready = [Bool](repeating: false, count: params.count)
        missing = layout.map(\.count)
        pending = [(any PendingCollective)?](repeating: nil, count: layout.count)
        nextToStart = 0
        firstUnfinished = 0
        armed = true
    }

    public func backwardFinished(_ layer: any Layer) {
        guard armed else { return }
        let key = ObjectIdentifier(layer)
        let members: [Int]
        if let m = announced[key] {
            members = m
        } else {
            members = layer.namedParameters().compactMap { p in
                treeParameters.contains(ObjectIdentifier(p.parameter)) ? indexOf[ObjectIdentifier(p.parameter)] : nil
            }
            announced[key] = members
        }
        for i in members where !ready[i] {
            ready[i] = true
            missing[bucketOf[i]] -= 1
        }
        startReadyBuckets()
        // Move the started reductions forward (MPI progresses only inside MPI calls); completed ones stay
        // in `pending` until averageGradients copies them back.
        while firstUnfinished < nextToStart, pending[firstUnfinished]!.test() { firstUnfinished += 1 }
    }

    /// Starts buckets in index order while the next one is complete.
    private func startReadyBuckets() {
        while nextToStart < layout.count && missing[nextToStart] == 0 {
            start(nextToStart)
            nextToStart += 1
        }
    }

    private func start(_ b: Int) {
        let count = pack(b)
        pending[b] = communicator.startAllreduce(buffers[b].data, count: count, .sum)
    }

    /// Copies bucket b's scaled gradients into its buffer; returns its element count.
    private func pack(_ b: Int) -> Int {
        let buffer = buffers[b].data
        var offset = 0
        for i in layout[b] {
            let g = params[i].grad, n = g.count, src = g.data, dst = buffer + offset
            if emptyShare {
                dst.update(repeating: 0, count: n)   // NaN/Inf from an empty rank must not leak in
            } else if scale == 1 {
                dst.update(from: src, count: n)
            } else {
                for k in 0..<n { dst[k] = src[k] * scale }
            }
            offset += n
        }
        return offset
    }

    private func unpack(_ b: Int) {
        var offset = 0
        for i in layout[b] {
            let g = params[i].grad
            g.data.update(from: buffers[b].data + offset, count: g.count)
            offset += g.count
        }
    }

    public func averageGradients(_ parameters: [Parameter], localCount: Int, globalCount: Int) {
        precondition(globalCount > 0 && localCount >= 0 && localCount <= globalCount,
                     "bad batch counts \(localCount) of \(globalCount)")
        let clock = ContinuousClock()
        let waitStart = clock.now
        if armed {
            precondition(parameters.filter(\.requiresGrad).map(ObjectIdentifier.init) == layoutKey,
                         "averageGradients with other parameters than beginBackward")
            lastStartedDuringBackward = nextToStart
            // Backward has ended: every gradient is final.
            for b in nextToStart..<layout.count { start(b) }
            nextToStart = layout.count
            for b in layout.indices {
                pending[b]?.wait()
                pending[b] = nil
                unpack(b)
            }
            armed = false
        } else {
            prepare(parameters.filter(\.requiresGrad))
            scale = Float(localCount) / Float(globalCount)
            emptyShare = localCount == 0
            lastStartedDuringBackward = 0
            for b in layout.indices {
                let count = pack(b)
                communicator.allreduce(buffers[b].data, count: count, .sum)
                unpack(b)
            }
        }
        let d = clock.now - waitStart
        let bytes = buffers.reduce(0) { $0 + $1.count * 4 }
        lastBytes = bytes
        totalBytes += bytes
        lastSeconds = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        totalSeconds += lastSeconds
        calls += 1
    }
}
