// AdaRound's rounding learned on several ranks (AdaRound.learn with a communicator): each rank holds a
// contiguous shard of one convolution's calibration inputs (Sharding, as `dqss ptq` gives them), every
// rank draws the same global batch and evaluates its part of it, and the weighted gradients are summed.
// Every rank must end with the same mask, and that mask must be one process's on all the images.
// With `--shard first` every image sits on rank 0 and the other ranks hold none (more ranks than
// images): they must still enter every allreduce (a rank that skipped the loop left the others waiting
// forever). Both reconstruction paths (direct convolution, patch Grams). Rank 0 prints one JSON object.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSData
import DQSSDistributed

struct AdaRoundCheck {
    enum Shard: String { case first, contiguous }
    var shard = Shard.contiguous
    var images = 12
    var iterations = 300

    init(arguments: [String]) throws {
        var i = 0
        while i < arguments.count {
            guard i + 1 < arguments.count else { throw CheckError("\(arguments[i]) needs a value") }
            let v = arguments[i + 1]
            switch arguments[i] {
            case "--shard":
                guard let s = Shard(rawValue: v) else { throw CheckError("--shard: first or contiguous, got '\(v)'") }
                shard = s
            case "--images":
                guard let n = Int(v), n > 0 else { throw CheckError("--images needs a positive integer, got '\(v)'") }
                images = n
            case "--iterations":
                guard let n = Int(v), n > 0 else { throw CheckError("--iterations needs a positive integer, got '\(v)'") }
                iterations = n
            default: throw CheckError("unknown option '\(arguments[i])'")
            }
            i += 2
        }
    }

    struct PathResult: Codable {
        var path: String
        /// Ranks whose mask equals rank 0's.
        var ranksAgreeing: Int
        /// Rank 0's mask equals one process's on all the images.
        var matchesSingleProcess: Bool
        /// Weights rounded the other way from round-to-nearest.
        var flips: Int
        var localImages: [Int]
        /// The reconstruction loss of the last iteration's global batch, on the ranks and in one process
        /// (equal up to the order of float sums when each rank's part is weighted by its share).
        var loss: Double
        var singleProcessLoss: Double
    }

    func run(_ comm: any Communicator) throws {
        var rng = RNG(seed: 5)
        let conv = Conv2d(3, 4, kernelSize: 3, padding: 1, rng: &rng)
        let all = Tensor.normal([images, 3, 6, 6], rng: &rng)
        let mine = Array(shard == .first ? (comm.rank == 0 ? 0..<images : 0..<0)
                                         : Sharding.range(count: images, rank: comm.rank, size: comm.size))
        let per = 3 * 6 * 6
        let local = Tensor(shape: [mine.count, 3, 6, 6])
        for (row, k) in mine.enumerated() { local.data.advanced(by: row * per).update(from: all.data + k * per, count: per) }
        let inputs = mine.isEmpty ? [] : [local]
        let quantizer = UniformQuantizer(bits: 3)
        var thresholds = [Float](repeating: 0, count: 4)
        let w = conv.weight.value, perChannel = w.count / 4
        for c in 0..<4 { for k in 0..<perChannel { thresholds[c] = max(thresholds[c], abs(w.data[c * perChannel + k])) } }
        let settings = AdaRoundSettings(iterations: iterations, batch: 4, learningRate: 0.02, seed: 3)
        let localCounts = comm.allgather([Double(mine.count)]).map { Int($0[0]) }
        var results: [PathResult] = []
        for (name, path) in [("direct", AdaRound.ReconstructionPath.direct), ("patchGram", .patchGram)] {
            var loss = 0.0, singleLoss = 0.0
            let (rounding, _) = AdaRound.learn(layer: conv, inputs: inputs, quantizer: quantizer, thresholds: thresholds,
                                               settings: settings, communicator: comm, path: path) { _, l in loss = l }
            let masks = comm.allgather(rounding.up.map(Double.init))
            let agreeing = masks.filter { $0 == masks[0] }.count
            var single = true
            if comm.rank == 0 {
                let (alone, _) = AdaRound.learn(layer: conv, inputs: [all], quantizer: quantizer, thresholds: thresholds,
                                                settings: settings, path: path) { _, l in singleLoss = l }
                single = alone == rounding
            }
            results.append(PathResult(path: name, ranksAgreeing: agreeing, matchesSingleProcess: single,
                                      flips: rounding.flips(from: w, quantizer: quantizer, thresholds: thresholds),
                                      localImages: localCounts, loss: loss, singleProcessLoss: singleLoss))
        }
        if comm.rank == 0 {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        }
    }
}
