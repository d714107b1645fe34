// Synchronised BatchNorm2d without MPI: R replicas of one layer, each on its own OS thread with its own
// share of a batch, summing through an in-process rendezvous (ReplicaGroup) exactly as ranks sum through
// an allreduce. Compared with ONE BatchNorm2d on the whole batch (the one-process run of the same global
// batch), and checked against central differences of the synchronised forward itself.

import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import _TestSupport

/// An in-process "allreduce": every party deposits its values, the last to arrive sums them in rank order
/// (a fixed order, like a fixed reduction tree), and every party leaves with the same sum.
final class ReplicaGroup: @unchecked Sendable {
    let size: Int
    private let cond = NSCondition()
    private var deposits: [[Double]?]
    private var result: [Double] = []
    private var generation = 0
    private var arrived = 0

    init(size: Int) {
        self.size = size
        deposits = Array(repeating: nil, count: size)
    }

    func sum(rank: Int, _ values: inout [Double]) {
        cond.lock()
        defer { cond.unlock() }
        let round = generation
        deposits[rank] = values
        arrived += 1
        if arrived == size {
            let counts = Set(deposits.map { $0!.count })
            precondition(counts.count == 1, "replicas summed buffers of different lengths \(counts)")
            var total = [Double](repeating: 0, count: values.count)
            for d in deposits { for i in total.indices { total[i] += d![i] } }
            result = total
            deposits = Array(repeating: nil, count: size)
            arrived = 0
            generation += 1
            cond.broadcast()
        } else {
            while generation == round { cond.wait() }
        }
        values = result
    }
}

/// One replica's view of a ReplicaGroup, counting its calls.
final class ReplicaReducer: BatchStatisticsReducer {
    let group: ReplicaGroup
    let rank: Int
    private(set) var calls = 0
    init(_ group: ReplicaGroup, rank: Int) { self.group = group; self.rank = rank }
    func sum(_ values: inout [Double]) {
        calls += 1
        group.sum(rank: rank, &values)
    }
}

/// Shares non-Sendable test state with the replica threads (each thread touches only its own replica).
private final class Unchecked<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// body(r) for r in 0..<n at the same time: rank 0 on this thread, the others on threads of their own
/// (real threads: a rendezvous must never wait for a task a busy pool has not started).
private func onReplicas(_ n: Int, _ body: @escaping (Int) -> Tensor) -> [Tensor] {
    let results = Unchecked([Tensor?](repeating: nil, count: n))
    let work = Unchecked(body)
    let done = DispatchSemaphore(value: 0)
    let lock = NSLock()
    for r in 1..<max(n, 1) {
        Thread {
            let t = work.value(r)
            lock.lock(); results.value[r] = t; lock.unlock()
            done.signal()
        }.start()
    }
    let t0 = body(0)
    for _ in 1..<max(n, 1) { done.wait() }
    lock.lock(); defer { lock.unlock() }
    results.value[0] = t0
    return results.value.map { $0! }
}

/// Samples [from, from + count) of an NCHW tensor.
private func slice(_ x: Tensor, _ from: Int, _ count: Int) -> Tensor {
    let per = x.count / x.n
    let out = Tensor(shape: [count] + x.shape.dropFirst())
    out.data.update(from: x.data + from * per, count: count * per)
    return out
}

private func concat(_ parts: [Tensor]) -> Tensor {
    let out = Tensor(shape: [parts.reduce(0) { $0 + $1.n }] + parts[0].shape.dropFirst())
    var offset = 0
    for p in parts { (out.data + offset).update(from: p.data, count: p.count); offset += p.count }
    return out
}

/// R synchronised replicas of one BatchNorm2d as ONE layer: forward gives replica r the next `shares[r]`
/// samples, backward sums the replicas' local dγ, dβ (what a sum-over-ranks gradient reducer would do).
final class ReplicatedBatchNorm: UnaryLayer {
    let replicas: [BatchNorm2d]
    let reducers: [ReplicaReducer]
    let shares: [Int]
    /// γ, β shared by the replicas (copied into each before every forward).
    let weight: Parameter, bias: Parameter
    var isTraining = true { didSet { for r in replicas { r.isTraining = isTraining } } }

    init(_ channels: Int, shares: [Int], synchronised: Bool = true) {
        let group = ReplicaGroup(size: shares.count)
        self.shares = shares
        replicas = shares.map { _ in BatchNorm2d(channels) }
        reducers = shares.indices.map { ReplicaReducer(group, rank: $0) }
        weight = Parameter(Tensor(shape: [channels], repeating: 1), decays: false)
        bias = Parameter(Tensor(shape: [channels]), decays: false)
        for (bn, red) in zip(replicas, reducers) {
            bn.isTraining = true
            if synchronised { bn.statisticsReducer = red }
        }
    }

    var parameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }

    func forward(_ x: Tensor) -> Tensor {
        precondition(x.n == shares.reduce(0, +))
        var parts: [Tensor] = [], at = 0
        for (bn, s) in zip(replicas, shares) {
            bn.weight.value.set(weight.value.array)
            bn.bias.value.set(bias.value.array)
            parts.append(slice(x, at, s))
            at += s
        }
        let inputs = Unchecked((replicas, parts))
        return concat(onReplicas(shares.count) { r in inputs.value.0[r].forward(inputs.value.1[r]).copy() })
    }

    func backward(_ g: Tensor) -> Tensor {
        var parts: [Tensor] = [], at = 0
        for (bn, s) in zip(replicas, shares) {
            bn.zeroGradients()
            parts.append(slice(g, at, s))
            at += s
        }
        let inputs = Unchecked((replicas, parts))
        let dx = concat(onReplicas(shares.count) { r in inputs.value.0[r].backward(inputs.value.1[r]).copy() })
        for bn in replicas {
            weight.grad.add(bn.weight.grad)
            bias.grad.add(bn.bias.grad)
        }
        return dx
    }
}

private func relativeDiff(_ a: [Float], _ b: [Float]) -> Float {
    maxAbsDiff(a, b) / max(b.map(abs).max() ?? 0, 1e-6)
}

@Suite("BatchNorm2d synchronised over replicas")
struct SyncBatchNorm2dTests {
    /// One BatchNorm2d on the whole batch, forward + backward with upstream gradient `g`.
    private func wholeBatch(_ x: Tensor, _ g: Tensor, gamma: [Float], beta: [Float])
        -> (bn: BatchNorm2d, y: [Float], dx: [Float]) {
        let bn = BatchNorm2d(x.c)
        bn.isTraining = true
        bn.weight.value.set(gamma)
        bn.bias.value.set(beta)
        let y = bn.forward(x).array
        let dx = bn.backward(g).array
        return (bn, y, dx)
    }

    @Test("R replicas on shares of a batch (equal, unequal, 3 ranks) = one layer on the whole batch: output, running stats, dx, dγ, dβ",
          arguments: [[2, 2], [3, 1], [1, 2, 1]])
    func matchesWholeBatch(shares: [Int]) {
        var rng = RNG(seed: 21)
        let x = Tensor.uniform([shares.reduce(0, +), 3, 5, 6], -1, 3, rng: &rng)   // mean ≈ 1: not centred
        let g = Tensor.uniform(x.shape, -1, 1, rng: &rng)
        let gamma: [Float] = [1.5, -0.7, 0.9], beta: [Float] = [0.1, 0.2, -0.3]
        let one = wholeBatch(x, g, gamma: gamma, beta: beta)

        let sync = ReplicatedBatchNorm(3, shares: shares)
        sync.weight.value.set(gamma)
        sync.bias.value.set(beta)
        let y = sync.forward(x).array
        let dx = sync.backward(g).array
        #expect(relativeDiff(y, one.y) < 1e-5, "output")
        #expect(relativeDiff(dx, one.dx) < 1e-5, "dx")
        #expect(relativeDiff(sync.weight.grad.array, one.bn.weight.grad.array) < 1e-5, "dγ")
        #expect(relativeDiff(sync.bias.grad.array, one.bn.bias.grad.array) < 1e-5, "dβ")
        for bn in sync.replicas {   // every replica holds the global running statistics
            #expect(relativeDiff(bn.runningMean.array, one.bn.runningMean.array) < 1e-5, "running mean")
            #expect(relativeDiff(bn.runningVar.array, one.bn.runningVar.array) < 1e-5, "running var")
            #expect(bn.numBatchesTracked[0] == 1)
        }
        // Two sums per forward (Σx, then Σ(x − μ)²) and one per backward, on every replica.
        #expect(sync.reducers.map(\.calls) == Array(repeating: 3, count: shares.count))

        // The comparison can fail: per-replica statistics (no reducer) are a different function.
        let perRank = ReplicatedBatchNorm(3, shares: shares, synchronised: false)
        perRank.weight.value.set(gamma)
        perRank.bias.value.set(beta)
        #expect(relativeDiff(perRank.forward(x).array, one.y) > 1e-2)
        #expect(relativeDiff(perRank.backward(g).array, one.dx) > 1e-2)
    }

    @Test("synchronised train-mode gradients (input, γ, β) match central differences of the synchronised forward")
    func synchronisedGradients() {
        var rng = RNG(seed: 22)
        let sync = ReplicatedBatchNorm(3, shares: [2, 1])
        sync.weight.value.set([1.5, -0.7, 0.9])
        sync.bias.value.set([0.1, 0.2, -0.3])
        let x = Tensor.uniform([3, 3, 3, 5], -2, 2, rng: &rng)
        let r = checkGradients(sync, input: x, epsilon: 1e-2)
        #expect(r.maxError < 2e-2, "\(r)")
    }

    @Test("a one-replica reducer reproduces the unsynchronised layer bit for bit, also far from zero mean")
    func oneReplica() {
        for offset: Float in [0, 1000] {
            var rng = RNG(seed: 23)
            let x = Tensor.uniform([2, 2, 4, 4], offset - 1, offset + 1, rng: &rng)
            let g = Tensor.uniform(x.shape, -1, 1, rng: &rng)
            let one = wholeBatch(x, g, gamma: [1, 2], beta: [0, 1])
            let bn = BatchNorm2d(2)
            bn.isTraining = true
            bn.weight.value.set([1, 2])
            bn.bias.value.set([0, 1])
            let reducer = ReplicaReducer(ReplicaGroup(size: 1), rank: 0)
            bn.statisticsReducer = reducer
            // The same two passes with an identity sum in between: identical bits. At offset 1000
            // (μ²/σ² ≈ 3e6) a one-pass E[x²] − μ² in Float would leave no correct digit of σ².
            #expect(bn.forward(x).array == one.y, "offset \(offset)")
            #expect(bn.backward(g).array == one.dx, "offset \(offset)")
            #expect(bn.runningVar.array == one.bn.runningVar.array, "offset \(offset)")
            #expect(bn.runningMean.array == one.bn.runningMean.array, "offset \(offset)")
            #expect(bn.weight.grad.array == one.bn.weight.grad.array && bn.bias.grad.array == one.bn.bias.grad.array)
            #expect(reducer.calls == 3)
        }
    }

    @Test("eval mode ignores the reducer: running statistics, no collective")
    func evalModeIgnoresReducer() {
        let bn = BatchNorm2d(1, eps: 0)
        bn.runningMean.set([1])
        bn.runningVar.set([4])
        let reducer = ReplicaReducer(ReplicaGroup(size: 2), rank: 0)   // would block if called: no partner
        bn.statisticsReducer = reducer
        let y = bn.forward(Tensor(shape: [1, 1, 1, 3], values: [1, 3, -1]))
        #expect(y.array == [0, 1, -1])
        #expect(bn.backward(Tensor(shape: [1, 1, 1, 3], values: [1, 1, 1])).array == [0.5, 0.5, 0.5])
        #expect(reducer.calls == 0)
    }
}
