// StagedValidationScore (the greedy refinement's score with the unchanged prefix of the network reused)
// against its oracle, the full validation pass (ValidationDivergence.score): on a random CIFAR ResNet-8 with
// three candidates of different thresholds, a sequence of one-layer trials, some kept and some not, must
// give the full pass's score to the bit, while running fewer stage forwards than full passes would.

import Testing
import DQSSTensor
import DQSSLayers
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSDistributed
import DQSSRun

@Suite("StagedValidationScore")
struct StagedValidationScoreTests {
    @Test("scores of one-layer trials equal the full pass bit for bit, kept or not, with fewer stage forwards")
    func equalsFullPass() throws {
        var rng = RNG(seed: 7)
        let (network, batches, divergence, points, table) = fixture(batch: 4, rng: &rng)
        #expect(points.count == 8)   // 7 convs + the classifier
        let scorer = try #require(StagedValidationScore(network: network, points: points, divergence: divergence))
        #expect(scorer.stages.count == 3 + 3 + 3)   // conv1 bn1 relu, 3 blocks, avgpool flatten linear
        #expect(scorer.stageOf.first == 0 && scorer.stageOf.last == 8)

        func full(_ choice: StrategyChoice) -> Double {
            QuantizedModel.install(points, assignments: table.quantization(choice))
            defer { QuantizedModel.removeHooks(points) }
            return divergence.score(network)
        }
        var current = StrategyChoice.uniform(0, layers: points.count)
        var trials = 0
        for step in 0..<40 {
            let l = rng.int(below: points.count), c = rng.int(below: 3), activation = rng.int(below: 2) == 0
            var trial = current
            if activation { trial.activation[l] = c } else { trial.weight[l] = c }
            QuantizedModel.install(points, assignments: table.quantization(trial))
            let staged = scorer.score(network, changedLayer: l)
            QuantizedModel.removeHooks(points)
            trials += 1
            let oracle = full(trial)
            #expect(staged.bitPattern == oracle.bitPattern, "step \(step): layer \(l) staged \(staged) vs full \(oracle)")
            if rng.int(below: 3) != 0 {   // keep two trials in three
                scorer.keepLastTrial()
                current = trial
            }
        }
        // A full pass per trial would run every stage on every batch.
        #expect(scorer.stageForwards < trials * scorer.stages.count * batches.count * 3 / 4)
    }

    @Test("the significance gate: scores are the mean of full-pass per-image KL, verdicts the paired test's on them")
    func gatedVerdicts() throws {
        var rng = RNG(seed: 11)
        let (network, _, divergence, points, table) = fixture(batch: 5, rng: &rng)
        // The oracle: per-image KL of a full forward, and the paired statistics computed from two of them.
        func perImage(_ choice: StrategyChoice) -> [Double] {
            QuantizedModel.install(points, assignments: table.quantization(choice))
            defer { QuantizedModel.removeHooks(points) }
            return divergence.perImage { _, batch in network.forward(batch) }
        }
        for z in [0.0, 1.0, 1e9] {
            let scorer = try #require(StagedValidationScore(network: network, points: points, divergence: divergence, significance: z))
            var current = StrategyChoice.uniform(1, layers: points.count)
            QuantizedModel.install(points, assignments: table.quantization(current))
            scorer.begin(network)
            QuantizedModel.removeHooks(points)
            var currentScores = perImage(current)
            var currentMean = currentScores.reduce(0, +) / 15
            var kept = 0, refused = 0
            for step in 0..<24 {
                let l = rng.int(below: points.count), c = rng.int(below: 3), activation = rng.int(below: 2) == 0
                var trial = current
                if activation { trial.activation[l] = c } else { trial.weight[l] = c }
                QuantizedModel.install(points, assignments: table.quantization(trial))
                let v = scorer.verdict(network, changedLayer: l, current: currentMean)
                QuantizedModel.removeHooks(points)
                let oracle = perImage(trial)
                let mean = oracle.reduce(0, +) / 15
                #expect(abs(v.score - mean) <= 1e-12 * max(1, mean), "z \(z) step \(step): \(v.score) vs \(mean)")
                // The plain score of the same network (Float per batch) agrees to float rounding.
                QuantizedModel.install(points, assignments: table.quantization(trial))
                #expect(abs(divergence.score(network) - mean) < 1e-5 * max(1, mean))
                QuantizedModel.removeHooks(points)
                let paired = PairedImprovement(trial: oracle, current: currentScores)
                #expect(v.improves == (mean < currentMean && paired.isImprovement(z: z)), "z \(z) step \(step)")
                if v.improves {
                    scorer.keepLastTrial()
                    (current, currentScores, currentMean) = (trial, oracle, mean)
                    kept += 1
                } else {
                    refused += 1
                }
            }
            // z = 0 is the plain rule (any decrease); an enormous z keeps nothing on varied images.
            if z == 1e9 { #expect(kept == 0) }
            if z == 0 { #expect(kept > 0 && refused > 0) }
        }
    }

    @Test("the gate's statistics on one rank of two are those of all images: the three paired sums and the mean are allreduced")
    func pairedAcrossRanks() {
        var rng = RNG(seed: 12)
        let network = CIFARResNet(depth: 8, rng: &rng)
        let trial = (0..<10).map { _ in Double(rng.uniform(0, 1)) }, current = (0..<10).map { _ in Double(rng.uniform(0, 1)) }
        let all = PairedImprovement(trial: trial, current: current)
        // This process is rank 0 holding images 0..<4; rank 1 holds 4..<10 and contributes its sums.
        let other = PairedImprovement(trial: Array(trial[4...]), current: Array(current[4...]))
        let comm = OtherRankSums([[other.sum, other.sumOfSquares, Double(other.count)], [trial[4...].reduce(0, +)]])
        let divergence = ValidationDivergence(network: network, batches: [], total: 10, communicator: comm)
        let paired = divergence.paired(trial: Array(trial[..<4]), current: Array(current[..<4]))
        #expect(paired.count == 10 && abs(paired.mean - all.mean) < 1e-12 && abs(paired.standardError - all.standardError) < 1e-12)
        #expect(abs(divergence.mean(Array(trial[..<4])) - trial.reduce(0, +) / 10) < 1e-12)
        #expect(comm.pending.isEmpty)
    }
}

/// A random CIFAR ResNet-8 in evaluation mode, three validation batches of `batch` random images, and three
/// candidates with different activation and weight thresholds at 4 bits on every quantized layer.
private func fixture(batch: Int, rng: inout RNG) -> (CIFARResNet, [Tensor], ValidationDivergence, [QuantizationPoint], CandidateTable) {
    let network = CIFARResNet(depth: 8, rng: &rng)
    network.setTraining(false)
    let batches = (0..<3).map { _ in Tensor.normal([batch, 3, 12, 12], rng: &rng) }
    let divergence = ValidationDivergence(network: network, batches: batches, total: 3 * batch, communicator: SingleProcess())
    let points = QuantizedModel.points(of: network)
    let table = CandidateTable(names: ["a", "b", "c"], layers: [0.6, 1.0, 1.7].map { f in
        points.map { p in
            LayerQuantization(name: p.name, weightBits: 4, activationBits: 4, activationUnsigned: false,
                              thresholds: LayerThresholds(weight: 0.25 * f, activation: 1.5 * f))
        }
    })
    return (network, batches, divergence, points, table)
}

/// Rank 0 of 2: each Double allreduce adds the next of rank 1's contributions (in call order).
private final class OtherRankSums: Communicator, @unchecked Sendable {
    var pending: [[Double]]
    init(_ contributions: [[Double]]) { pending = contributions }
    var rank: Int { 0 }
    var size: Int { 2 }
    func allreduce(_ buffer: UnsafeMutablePointer<Double>, count: Int, _ op: ReduceOperation) {
        let other = pending.removeFirst()
        precondition(op == .sum && other.count == count, "unexpected allreduce of \(count)")
        for i in 0..<count { buffer[i] += other[i] }
    }
    func allreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, _ op: ReduceOperation) { fatalError("not used") }
    func allreduce(_ buffer: UnsafeMutablePointer<Int64>, count: Int, _ op: ReduceOperation) { fatalError("not used") }
    func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int) { fatalError("not used") }
    func allgather(_ values: [Double]) -> [[Double]] { fatalError("not used") }
    func barrier() {}
    func abort(code: Int32, message: String) -> Never { fatalError(message) }
}
