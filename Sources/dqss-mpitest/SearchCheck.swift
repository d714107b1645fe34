// The PTQ search pipeline of `dqss search --mode ptq` (DQSSRun's SearchPipeline) on a small network,
// data-parallel, without evaluation or selection: each rank takes the calibration images of its index
// range (Sharding), gathers statistics on them (combined over the ranks by PTQCalibration), and runs the
// DQSS search on them (α/β gradients averaged over the global batch).
// Rank 0 prints everything a comparison across rank counts needs.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSDistributed
import DQSSRun

struct SearchCheck {
    var images = 32
    var batch = 8
    var epochs = 2
    var seed: UInt64 = 7
    var size = 16
    var schedule = SearchSchedule.annealed

    init(arguments: [String]) throws {
        var i = 0
        func value() throws -> String {
            guard i + 1 < arguments.count else { throw CheckError("\(arguments[i]) needs a value") }
            i += 1
            return arguments[i]
        }
        func int() throws -> Int {
            let flag = arguments[i], v = try value()
            guard let n = Int(v), n > 0 else { throw CheckError("\(flag) needs a positive integer, got '\(v)'") }
            return n
        }
        while i < arguments.count {
            switch arguments[i] {
            case "--images": images = try int()
            case "--batch": batch = try int()
            case "--epochs": epochs = try int()
            case "--seed": seed = UInt64(try int())
            case "--size": size = try int()
            case "--schedule":
                let v = try value()
                guard let s = SearchSchedule(rawValue: v) else { throw CheckError("--schedule: unknown '\(v)'") }
                schedule = s
            default: throw CheckError("unknown option '\(arguments[i])'")
            }
            i += 1
        }
    }

    struct Output: Codable {
        var ranks: Int
        var shard: [Int]
        var thresholds: [String: [LayerThresholds]]
        var unsigned: [Bool]
        var alpha: [[Float]]
        var beta: [[Float]]
        var assignment: [[Int]]
        var losses: [Double]
        var timing: SearchTiming
    }

    func run(_ comm: any Communicator) throws {
        let fault = FaultInjection.fromEnvironment(ProcessInfo.processInfo.environment)
        // This rank's calibration images (the generator draws image i from its own seed, so generating
        // the first `hi` and keeping lo..<hi reads exactly this index range).
        let shard = Sharding.range(count: images, rank: comm.rank, size: comm.size)
        if fault?.applies(.shard, rank: comm.rank) == true {
            throw CheckError("cannot read calibration images \(shard.lowerBound)..<\(shard.upperBound) (injected bad shard)")
        }
        let data = SyntheticDataset(count: shard.upperBound, size: size, seed: seed)
        let local = Tensor(shape: [shard.count, 3, size, size])
        let per = 3 * size * size
        local.data.update(from: data.images.data + shard.lowerBound * per, count: shard.count * per)
        let labels = Array(data.labels[shard])
        for k in 0..<local.count where !local.data[k].isFinite {
            throw CheckError("calibration image \(shard.lowerBound + k / per) is not finite")
        }

        var rng = RNG(seed: seed)
        let net = TinyConvNet(classes: SyntheticDataset.classNames.count, width: 8, rng: &rng)
        for (name, t) in net.namedBuffers() {   // non-trivial BN statistics (eval mode, PTQ)
            if name.hasSuffix("running_mean") { t.fillUniform(-0.2, 0.2, rng: &rng) }
            if name.hasSuffix("running_var") { t.fillUniform(0.5, 1.5, rng: &rng) }
        }
        net.setTraining(false)

        // Calibration on copies of this rank's images in batches of 8 (batching does not change any
        // statistic); the injected NaN reaches the search only.
        let batches = ClassificationSource.batches(of: local, size: 8)
        if fault?.applies(.nan, rank: comm.rank) == true {
            for k in 0..<shard.count { local.data[k * per] = .nan }
        }
        var settings = PTQSearchSettings.defaults(schedule)
        settings.epochs = epochs
        settings.batchSize = batch
        settings.seed = seed
        // The real search pipeline, with nothing to evaluate and no held-out data: calibration + search.
        let loss = ClassificationSearchLoss(images: local, labels: labels, firstImage: shard.lowerBound, totalImages: images,
                                            communicator: comm)
        let pipeline = SearchPipeline(task: CalibrationAndSearch(loss: loss), methods: PTQMethod.paperCandidates, ptq: PTQSettings(),
                                      searches: [settings], communicator: comm)
        let r = try pipeline.run(net, calibration: batches, firstImage: shard.lowerBound)
        let main = r.main
        let out = Output(ranks: comm.size, shard: [shard.lowerBound, shard.upperBound],
                         thresholds: Dictionary(uniqueKeysWithValues: zip(PTQMethod.paperCandidates.map(\.rawValue),
                                                                          r.table.layers.map { $0.map(\.thresholds) })),
                         unsigned: r.table.layers[0].map(\.activationUnsigned),
                         alpha: main.assignment.layers.map(\.alpha), beta: main.assignment.layers.map(\.beta),
                         assignment: main.assignment.layers.map { [$0.activation, $0.weight] },
                         losses: main.records.map(\.loss), timing: main.timing)
        if comm.rank == 0 {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(out), as: UTF8.self))
        }
    }
}

/// The pipeline task of this check: nothing evaluated, no held-out data, so no selection.
struct CalibrationAndSearch: SearchTask {
    let loss: any SearchLoss
    func evaluate(_ network: any UnaryLayer, _ stage: SearchStage) {}
    var hasHeldOutData: Bool { false }
    func score(_ network: any UnaryLayer) -> Double { .nan }
    var scoreDescription: String { "" }
}
