// Every collective of `Communicator` against values each rank can compute by hand: rank r contributes
// values built from r, so sums, maxima and gathers have closed forms in r and the size.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSDistributed

enum CollectivesCheck {
    static func run(_ comm: any Communicator) throws {
        let r = comm.rank, n = comm.size
        func expect(_ ok: Bool, _ what: String) throws {
            if !ok { throw CheckError("\(what) is wrong on rank \(r)") }
        }
        // Σ_r (r + 1) = n(n+1)/2, max = n, min = 1.
        var f: [Float] = [Float(r + 1), -Float(r)]
        comm.allreduce(&f, .sum)
        try expect(f == [Float(n * (n + 1) / 2), -Float(n * (n - 1) / 2)], "Float allreduce sum \(f)")
        var d: [Double] = [Double(r + 1), 0.5]
        comm.allreduce(&d, .max)
        try expect(d == [Double(n), 0.5], "Double allreduce max \(d)")
        var i: [Int64] = [Int64(r + 1), Int64(1) << 40]
        comm.allreduce(&i, .min)
        try expect(i == [1, Int64(1) << 40], "Int64 allreduce min \(i)")
        try expect(comm.allreduce(r, .sum) == n * (n - 1) / 2, "Int allreduce sum")
        // Broadcast from the last rank.
        var b: [Float] = r == n - 1 ? [3, 1, 4] : [0, 0, 0]
        comm.broadcast(&b, root: n - 1)
        try expect(b == [3, 1, 4], "broadcast \(b)")
        // Gather of different lengths: rank r sends r + 1 copies of r.
        let g = comm.allgather([Double](repeating: Double(r), count: r + 1))
        try expect(g.count == n && g.enumerated().allSatisfy { k, v in v == [Double](repeating: Double(k), count: k + 1) },
                   "allgather \(g)")
        try expect(comm.any(r == n - 1) && !comm.any(false), "any")
        comm.barrier()
        // Bucketed gradient average: rank r holds n_r = r + 1 samples with gradient (r + 1)·[1, 2, 3...];
        // the global mean gradient is Σ_r (n_r/N)(r + 1)·v with N = Σ n_r. Buckets of 5 floats split the
        // three parameters (4, 3, 6 elements) into [0, 1] [2]... whatever the split, values must match.
        let counts = [4, 3, 6]
        let params = counts.map { Parameter(Tensor(shape: [$0])) }
        for p in params { for k in 0..<p.grad.count { p.grad.data[k] = Float(r + 1) * Float(k + 1) } }
        let reducer = BucketedGradientReducer(communicator: comm, bucketElements: 5)
        let total = n * (n + 1) / 2
        reducer.averageGradients(params, localCount: r + 1, globalCount: total)
        var expected = 0.0
        for q in 0..<n { expected += Double(q + 1) / Double(total) * Double(q + 1) }
        for p in params {
            for k in 0..<p.grad.count {
                let want = expected * Double(k + 1)
                try expect(abs(Double(p.grad.data[k]) - want) <= 1e-5 * want, "bucketed average \(p.grad.array)")
            }
        }
        try expect(reducer.bucketCount == 3 && reducer.lastBytes == 13 * 4, "bucket layout \(reducer.bucketCount)")
        // The same average overlapped with backward (buckets started while backward runs, MPI_Iallreduce):
        // a small network on rank-dependent inputs, its gradients reduced after backward (blocking) and
        // during it (overlapped); the two must agree (2 ranks: bit for bit, a + b is one rounding).
        var rng = RNG(seed: 3)
        let net = Sequential([Linear(6, 8, rng: &rng), ReLU(), Sequential([Linear(8, 8, rng: &rng), ReLU()]), Linear(8, 3, rng: &rng)])
        net.setTraining(true)
        let netParams = net.namedParameters().map(\.parameter)
        let x = Tensor(shape: [r + 1, 6])
        for k in 0..<x.count { x.data[k] = Float((k * 7 + r * 3) % 11) / 5 - 1 }
        var reduced: [[[Float]]] = []
        for overlap in [false, true] {
            let bucketed = BucketedGradientReducer(communicator: comm, bucketElements: 16)
            if overlap { bucketed.overlapBackward(of: net) }
            net.zeroGradients()
            bucketed.beginBackward(netParams, localCount: r + 1, globalCount: total)
            let y = net.forward(x)
            _ = net.backward(y)
            bucketed.averageGradients(netParams, localCount: r + 1, globalCount: total)
            if overlap { try expect(bucketed.lastStartedDuringBackward == bucketed.bucketCount, "buckets started during backward") }
            reduced.append(netParams.map(\.grad.array))
            net.setBackwardObserver(nil)
        }
        for (a, b) in zip(reduced[0].joined(), reduced[1].joined()) {
            try expect(n == 2 ? a == b : abs(a - b) <= 1e-6 * max(1, abs(a)), "overlapped average \(b) vs blocking \(a)")
        }
        // BatchNorm running statistics averaged over the ranks: rank r holds mean r + [0, 1], var 2r + 1.
        let bn = BatchNorm2d(2)
        bn.runningMean.set([Float(r), Float(r + 1)])
        bn.runningVar.set([Float(2 * r + 1), Float(2 * r + 1)])
        let layers = SynchronisedBatchNorm.averageRunningStatistics(in: Sequential([bn, ReLU()]), communicator: comm)
        let meanR = Float(n - 1) / 2
        try expect(layers == 1 && bn.runningMean.array == [meanR, meanR + 1] && bn.runningVar.array == [2 * meanR + 1, 2 * meanR + 1],
                   "BatchNorm running statistics average \(bn.runningMean.array) \(bn.runningVar.array)")
        if r == 0 { print("{\"ok\":true,\"ranks\":\(n)}") }
    }
}
