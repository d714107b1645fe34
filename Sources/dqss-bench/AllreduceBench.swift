// dqss-bench allreduce: data-parallel cost of a training step, run under mpirun (or alone as 1 rank).
//
//   mpirun -np 2 dqss-bench allreduce [--batch 128] [--threads 1] [--steps 5] [--json]
//   dqss-bench allreduce --threads 2                      (the 1-rank reference)
//
// 1. A ResNet-20 data-parallel training step at a fixed GLOBAL batch (each rank its Sharding share):
//    compute (forward + loss + backward, this rank), wait (barrier: load imbalance between ranks),
//    allreduce (BucketedGradientReducer over every gradient), update (SGD). Medians over steps; compute
//    is the slowest rank's.
// 2. Bare allreduce of gradient-sized buffers through the same reducer: the α/β of a ResNet-20 DQSS
//    search (160 floats), ResNet-20 (0.27 M) and ResNet-50 (25.5 M floats, 102 MB) — time, algorithm
//    bandwidth bytes/t and bus bandwidth 2(R−1)/R · bytes/t (what a ring allreduce moves per link).
// Only rank 0 prints.

import ArgumentParser
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSDistributed
import Dispatch
import Foundation

struct Allreduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Data-parallel step split into compute and allreduce, and allreduce bandwidth (run under mpirun).")

    @Option(help: "Global batch of the ResNet-20 step (split over the ranks).")
    var batch: Int = 128
    @Option(help: "Threads per rank for OpenBLAS and the parallel loops.")
    var threads: Int = 1
    @Option(help: "Timed steps (median reported; one warm-up step before).")
    var steps: Int = 5
    @Option(help: "Bucket size in floats.")
    var bucket: Int = 1 << 22
    @Flag(help: "Print one JSON object on stdout (rank 0).")
    var json = false

    struct BufferTiming: Codable {
        var name: String
        var floats: Int
        var bytes: Int
        var buckets: Int
        var ms: Double
        var algorithmGBps: Double
        var busGBps: Double
    }

    struct Report: Codable {
        var ranks: Int
        var threadsPerRank: Int
        var globalBatch: Int
        var perRankBatch: [Int]
        var parameters: Int
        var allreduceBytesPerStep: Int
        var stepMs: Double
        var computeMs: Double
        var waitMs: Double
        var allreduceMs: Double
        var updateMs: Double
        var allreduceShare: Double
        var buffers: [BufferTiming]
    }

    func run() throws {
        try RankedRun.run(tool: "dqss-bench") { comm in
            guard batch >= comm.size else { throw ValidationError("--batch \(batch) is smaller than the \(comm.size) ranks") }
            Threads.configure(threads)
            let report = measure(comm)
            if comm.rank == 0 { print(report) }
        }
    }

    func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }

    func measure(_ comm: any Communicator) -> String {
        var rng = RNG(seed: 20)
        let model = CIFARResNet(depth: 20, rng: &rng)
        model.setTraining(true)
        let params = model.namedParameters().map(\.parameter)
        let sgd = SGD(groups: [ParameterGroup(name: "weights", parameters: params, lr: 0.1, momentum: 0.9, weightDecay: 1e-4)])
        let loss = SoftmaxCrossEntropy()
        let shard = Sharding.range(count: batch, rank: comm.rank, size: comm.size)
        let x = Tensor.uniform([shard.count, 3, 32, 32], -2, 2, rng: &rng)
        let labels = (0..<shard.count).map { _ in rng.int(below: 10) }
        let reducer = BucketedGradientReducer(communicator: comm, bucketElements: bucket)
        var compute: [Double] = [], wait: [Double] = [], reduce: [Double] = [], update: [Double] = [], total: [Double] = []
        for s in 0...steps {
            comm.barrier()
            let t0 = wallSeconds()
            sgd.zeroGradients()
            _ = loss.forward(logits: model.forward(x), labels: labels)
            _ = model.backward(loss.backward())
            let t1 = wallSeconds()
            comm.barrier()
            let t2 = wallSeconds()
            reducer.averageGradients(params, localCount: shard.count, globalCount: batch)
            let t3 = wallSeconds()
            sgd.step()
            let t4 = wallSeconds()
            if s > 0 {
                compute.append(t1 - t0); wait.append(t2 - t1); reduce.append(t3 - t2); update.append(t4 - t3)
                total.append(t4 - t0)
            }
        }
        // The slowest rank's compute is what the step waits for.
        let computeMs = comm.allreduce(median(compute) * 1e3, .max)
        let stepMs = comm.allreduce(median(total) * 1e3, .max)
        let reduceMs = comm.allreduce(median(reduce) * 1e3, .max)
        let waitMs = comm.allreduce(median(wait) * 1e3, .max)
        let updateMs = comm.allreduce(median(update) * 1e3, .max)
        let perRank = (0..<comm.size).map { Sharding.range(count: batch, rank: $0, size: comm.size).count }

        var buffers: [BufferTiming] = []
        for (name, floats) in [("resnet20 DQSS alpha/beta", 160), ("resnet20 gradients", 272_474),
                               ("resnet50 gradients", 25_557_032)] {
            // Split like a network's tensors (161 of them for ResNet-50-sized buffers).
            let pieces = floats > 1_000_000 ? 161 : 1
            let ps = (0..<pieces).map { i in
                Parameter(Tensor(shape: [floats * (i + 1) / pieces - floats * i / pieces]))
            }
            let r = BucketedGradientReducer(communicator: comm, bucketElements: bucket)
            var times: [Double] = []
            let repeats = floats > 1_000_000 ? 3 : 20
            for k in 0...repeats {
                comm.barrier()
                let t0 = wallSeconds()
                r.averageGradients(ps, localCount: 1, globalCount: comm.size)
                if k > 0 { times.append(wallSeconds() - t0) }
            }
            let t = comm.allreduce(median(times), .max)
            let bytes = floats * 4
            buffers.append(BufferTiming(name: name, floats: floats, bytes: bytes, buckets: r.bucketCount, ms: t * 1e3,
                                        algorithmGBps: Double(bytes) / t / 1e9,
                                        busGBps: Double(bytes) / t / 1e9 * 2 * Double(comm.size - 1) / Double(comm.size)))
        }
        let report = Report(ranks: comm.size, threadsPerRank: threads, globalBatch: batch, perRankBatch: perRank,
                            parameters: params.reduce(0) { $0 + $1.value.count }, allreduceBytesPerStep: reducer.lastBytes,
                            stepMs: stepMs, computeMs: computeMs, waitMs: waitMs, allreduceMs: reduceMs, updateMs: updateMs,
                            allreduceShare: reduceMs / stepMs, buffers: buffers)
        if json { return (try? jsonString(report)) ?? "" }
        var lines = [String(format: "ResNet-20 step, global batch %d on %d rank(s) x %d thread(s) (per rank %@): %.1f ms",
                            batch, comm.size, threads, perRank.map(String.init).joined(separator: "/"), stepMs),
                     String(format: "  compute %.1f ms, imbalance wait %.1f ms, allreduce %.2f ms (%d bytes, %.1f %% of the step), update %.1f ms",
                            computeMs, waitMs, reduceMs, report.allreduceBytesPerStep, 100 * report.allreduceShare, updateMs)]
        for b in buffers {
            lines.append(String(format: "  allreduce %@: %d floats (%d buckets) %.3f ms, %.2f GB/s algorithm, %.2f GB/s bus",
                                b.name, b.floats, b.buckets, b.ms, b.algorithmGBps, b.busGBps))
        }
        return lines.joined(separator: "\n")
    }
}
