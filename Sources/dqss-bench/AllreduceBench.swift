// dqss-bench allreduce: data-parallel cost of a training step, run under mpirun (or alone as 1 rank).
//
//   mpirun -np 2 dqss-bench allreduce [--model resnet20] [--image S] [--batch 128] [--threads 1] [--steps 5] [--json]
//   dqss-bench allreduce --threads 2                      (the 1-rank reference)
//
// 1. A data-parallel training step of a zoo model at a fixed GLOBAL batch (each rank its Sharding share),
//    run in two modes, alternating step by step (A B A B, so both see the same machine):
//    blocking — forward + loss + backward, then BucketedGradientReducer over every gradient, then SGD;
//    overlapped — the same reducer listening to the model's backward (overlapBackward): each bucket's
//    non-blocking allreduce starts as soon as its gradients are final, and after backward only the wait
//    for what is left remains. Per mode: the step, its compute, the time the step waits for the allreduce
//    after backward (the imbalance between ranks included: no barrier between backward and the
//    reduction) and that wait's share of the step; medians over steps, the slowest rank's.
// 2. Bare allreduce of gradient-sized buffers through the blocking reducer: the α/β of a ResNet-20 DQSS
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
        abstract: "Data-parallel step: allreduce after backward vs overlapped with it, and allreduce bandwidth (run under mpirun).")

    @Option(help: "Zoo model of the step (\(ModelZoo.names.joined(separator: ", "))).")
    var model: String = "resnet20"
    @Option(help: "Input size of the step (default: the model's own).")
    var image: Int?
    @Option(help: "Global batch of the step (split over the ranks).")
    var batch: Int = 128
    @Option(help: "Threads per rank for OpenBLAS and the parallel loops.")
    var threads: Int = 1
    @Option(help: "Timed steps per mode (median reported; one warm-up step of each mode before).")
    var steps: Int = 5
    @Option(help: "Bucket size in floats (dqss qat uses 1 M).")
    var bucket: Int = 1 << 20
    @Flag(help: "Skip the bare-buffer bandwidth part.")
    var stepOnly = false
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

    struct ModeTiming: Codable {
        var mode: String
        var stepMs: Double
        var computeMs: Double
        var allreduceWaitMs: Double
        var updateMs: Double
        /// allreduceWaitMs / stepMs.
        var waitShare: Double
        var bucketsStartedDuringBackward: Int
    }

    struct Report: Codable {
        var model: String
        var image: Int
        var ranks: Int
        var threadsPerRank: Int
        var globalBatch: Int
        var perRankBatch: [Int]
        var parameters: Int
        var allreduceBytesPerStep: Int
        var buckets: Int
        var blocking: ModeTiming
        var overlapped: ModeTiming
        /// overlapped.waitShare / blocking.waitShare (issue 21: at most 0.5 with 2 ranks).
        var waitShareRatio: Double
        var buffers: [BufferTiming]
    }

    func validate() throws {
        _ = try ModelZoo.spec(named: model)
        guard batch >= 1, steps >= 1, bucket >= 1, threads >= 1 else {
            throw ValidationError("--batch, --steps, --bucket and --threads must be at least 1")
        }
        if let image, image < 8 { throw ValidationError("--image must be at least 8 (got \(image))") }
    }

    func run() throws {
        try RankedRun.run(tool: "dqss-bench") { comm in
            guard batch >= comm.size else { throw ValidationError("--batch \(batch) is smaller than the \(comm.size) ranks") }
            Threads.configure(threads)
            let report = try measure(comm)
            if comm.rank == 0 { print(report) }
        }
    }

    func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }

    func measure(_ comm: any Communicator) throws -> String {
        var rng = RNG(seed: 20)
        let spec = try ModelZoo.spec(named: model)
        let size = image ?? spec.inputShape[1]
        let net = spec.make(rng: &rng)
        net.setTraining(true)
        let params = net.namedParameters().map(\.parameter)
        let sgd = SGD(groups: [ParameterGroup(name: "weights", parameters: params, lr: 0.01, momentum: 0.9, weightDecay: 1e-4)])
        let loss = SoftmaxCrossEntropy()
        let shard = Sharding.range(count: batch, rank: comm.rank, size: comm.size)
        let x = Tensor.uniform([shard.count, spec.inputShape[0], size, size], -2, 2, rng: &rng)
        let labels = (0..<shard.count).map { _ in rng.int(below: spec.numClasses) }
        let blocking = BucketedGradientReducer(communicator: comm, bucketElements: bucket)
        let overlapped = BucketedGradientReducer(communicator: comm, bucketElements: bucket)
        overlapped.overlapBackward(of: net)

        var times: [[String: [Double]]] = [[:], [:]]
        var startedDuringBackward = [0, 0]
        for s in 0...steps {
            for (m, reducer) in [blocking, overlapped].enumerated() {
                comm.barrier()
                let t0 = wallSeconds()
                sgd.zeroGradients()
                reducer.beginBackward(params, localCount: shard.count, globalCount: batch)   // no-op when blocking
                _ = loss.forward(logits: net.forward(x), labels: labels)
                _ = net.backward(loss.backward())
                let t1 = wallSeconds()
                reducer.averageGradients(params, localCount: shard.count, globalCount: batch)
                let t2 = wallSeconds()
                sgd.step()
                let t3 = wallSeconds()
                if s > 0 {
                    times[m]["compute", default: []].append(t1 - t0)
                    times[m]["wait", default: []].append(t2 - t1)
                    times[m]["update", default: []].append(t3 - t2)
                    times[m]["step", default: []].append(t3 - t0)
                    startedDuringBackward[m] = reducer.lastStartedDuringBackward
                }
            }
        }
        // The slowest rank's medians.
        func timing(_ m: Int, _ name: String) -> ModeTiming {
            // In a fixed order: a dictionary's order differs between processes, collectives must not.
            let t = ["step", "compute", "wait", "update"].map { comm.allreduce(median(times[m][$0]!) * 1e3, .max) }
            return ModeTiming(mode: name, stepMs: t[0], computeMs: t[1], allreduceWaitMs: t[2],
                              updateMs: t[3], waitShare: t[2] / t[0],
                              bucketsStartedDuringBackward: startedDuringBackward[m])
        }
        let a = timing(0, "blocking"), b = timing(1, "overlapped")
        let perRank = (0..<comm.size).map { Sharding.range(count: batch, rank: $0, size: comm.size).count }

        var buffers: [BufferTiming] = []
        for (name, floats) in stepOnly ? [] : [("resnet20 DQSS alpha/beta", 160), ("resnet20 gradients", 272_474),
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
        let report = Report(model: model, image: size, ranks: comm.size, threadsPerRank: threads, globalBatch: batch,
                            perRankBatch: perRank, parameters: params.reduce(0) { $0 + $1.value.count },
                            allreduceBytesPerStep: blocking.lastBytes, buckets: blocking.bucketCount,
                            blocking: a, overlapped: b, waitShareRatio: a.waitShare > 0 ? b.waitShare / a.waitShare : 0,
                            buffers: buffers)
        if json { return (try? jsonString(report)) ?? "" }
        var lines = [String(format: "%@ %dx%d step, global batch %d on %d rank(s) x %d thread(s) (per rank %@), %d bytes in %d buckets",
                            model, size, size, batch, comm.size, threads, perRank.map(String.init).joined(separator: "/"),
                            report.allreduceBytesPerStep, report.buckets)]
        for t in [a, b] {
            lines.append(String(format: "  %@: step %.1f ms, compute %.1f ms, allreduce wait after backward %.2f ms (%.2f %% of the step), update %.1f ms, %d buckets started during backward",
                                t.mode, t.stepMs, t.computeMs, t.allreduceWaitMs, 100 * t.waitShare, t.updateMs, t.bucketsStartedDuringBackward))
        }
        lines.append(String(format: "  overlapped / blocking wait share: %.3f", report.waitShareRatio))
        for b in buffers {
            lines.append(String(format: "  allreduce %@: %d floats (%d buckets) %.3f ms, %.2f GB/s algorithm, %.2f GB/s bus",
                                b.name, b.floats, b.buckets, b.ms, b.algorithmGBps, b.busGBps))
        }
        return lines.joined(separator: "\n")
    }
}
