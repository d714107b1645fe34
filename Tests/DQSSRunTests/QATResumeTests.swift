import Foundation
import Testing
import DQSSTensor
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSCheckpoint
import DQSSRun
import _TestSupport

/// QAT (QATTrainer over the DQSS mixture of DoReFa/DSQ/LSQ/PACT, and over one candidate) stopped after k
/// steps, written to HDF5, rebuilt from a differently initialised network and finished: bit for bit the
/// uninterrupted run.
@Suite("QAT resume")
struct QATResumeTests {
    static let train = SyntheticDataset(count: 64, size: 8, seed: 41)

    static func trainer(mixed: Bool, initSeed: UInt64 = 1, batch: Int = 16,
                        schedule: QATSearchSchedule = .paper) -> QATTrainer {
        var rng = RNG(seed: initSeed)
        let model = TinyConvNet(classes: train.classCount, width: 4, rng: &rng)
        let net: any QATNetwork = mixed ? QATMixedModel(model: model) : UniformQATModel(model: model, method: .lsq)
        var c = QATConfiguration(epochs: 2)
        c.warmupEpochs = 1
        c.batchSize = batch
        c.lr = 0.05
        c.lrTheta = 0.01
        c.milestones = [1]
        c.seed = 5
        c.evalEvery = 0
        c.searchSchedule = schedule
        return QATTrainer(network: net, configuration: c, trainData: EpochBatchSource(train))
    }

    static func finalState(_ t: QATTrainer) throws -> Checkpoint {
        try Checkpoint.qat(t, model: "tiny", task: "qat")
    }

    @Test("mixed QAT resumed in warm-up, at the warm-up's end and mid-training equals the uninterrupted run",
          arguments: [(true, 2), (true, 4), (true, 7), (false, 6)])
    func resume(mixed: Bool, k: Int) throws {
        let reference = Self.trainer(mixed: mixed)
        try reference.run()
        let expected = try Self.finalState(reference)

        let dir = TemporaryDirectory()
        let first = Self.trainer(mixed: mixed)
        for _ in 0..<k { try first.step() }
        let url = try CheckpointWriter(directory: dir.url).write(try Checkpoint.qat(first, model: "tiny", task: "qat"))
        let saved = try CheckpointReader.read(url)
        #expect(saved.progress.step == k)
        #expect(saved.quantization?.candidates == (mixed ? ["DoReFa", "DSQ", "LSQ", "PACT"] : ["LSQ"]))

        let resumed = Self.trainer(mixed: mixed, initSeed: 99)   // other initial weights: all must come from the file
        try saved.restore(into: resumed, model: "tiny", task: "qat", file: url.path)
        #expect(resumed.globalStep == k)
        try resumed.run()
        let got = try Self.finalState(resumed)
        for (a, b) in zip(got.stateDict, expected.stateDict) {
            #expect(a.name == b.name && a.array.bitwiseEqual(b.array), "\(a.name) differs")
        }
        #expect(got.quantization == expected.quantization)
        #expect(got.optimizer == expected.optimizer)
        #expect(got.trainer?.arrays == expected.trainer?.arrays)
        #expect(resumed.history.map(\.loss) == reference.history.map(\.loss))
        #expect(CheckpointDigest.of(got) == CheckpointDigest.of(expected))
    }

    @Test("annealed schedule with a mixture phase (1 mixture + 1 search epoch, Adam on α/β) resumed in the mixture phase and in the search phase equals the uninterrupted run",
          arguments: [6, 9])
    func resumeAnnealedWithMixturePhase(k: Int) throws {
        let schedule = QATSearchSchedule.annealed(epochs: 2, searchEpochs: 1, temperatureEnd: 0.05, mixtureEpochs: 1)
        let reference = Self.trainer(mixed: true, schedule: schedule)
        try reference.run()
        let expected = try Self.finalState(reference)

        let dir = TemporaryDirectory()
        let first = Self.trainer(mixed: true, schedule: schedule)
        for _ in 0..<k { try first.step() }
        let url = try CheckpointWriter(directory: dir.url).write(try Checkpoint.qat(first, model: "tiny", task: "qat"))
        let resumed = Self.trainer(mixed: true, initSeed: 99, schedule: schedule)
        try CheckpointReader.read(url).restore(into: resumed, model: "tiny", task: "qat", file: url.path)
        try resumed.run()
        let got = try Self.finalState(resumed)
        for (a, b) in zip(got.stateDict, expected.stateDict) {
            #expect(a.name == b.name && a.array.bitwiseEqual(b.array), "\(a.name) differs")
        }
        #expect(got.trainer?.arrays == expected.trainer?.arrays)
        #expect(resumed.history.map(\.loss) == reference.history.map(\.loss))
        #expect(CheckpointDigest.of(got) == CheckpointDigest.of(expected))
    }

    @Test("a mixed-QAT checkpoint is refused by a single-candidate run and by another batch size")
    func refusals() throws {
        let dir = TemporaryDirectory()
        let first = Self.trainer(mixed: true)
        for _ in 0..<3 { try first.step() }
        let url = try CheckpointWriter(directory: dir.url).write(try Checkpoint.qat(first, model: "tiny", task: "qat"))
        let saved = try CheckpointReader.read(url)
        let e = #expect(throws: CheckpointError.self) {
            try saved.restore(into: Self.trainer(mixed: false), model: "tiny", task: "qat", file: url.path)
        }
        #expect(e?.description.contains("candidates are [\"DoReFa\", \"DSQ\", \"LSQ\", \"PACT\"], this run uses [\"LSQ\"]") == true)
        let g = #expect(throws: CheckpointError.self) {
            try saved.restore(into: Self.trainer(mixed: true), model: "tiny", task: "qat", worldSize: 2, file: url.path)
        }
        #expect(g?.description.contains("global batch was 16, this run uses 32") == true)
    }

    @Test("another number of ranks, same global batch: the run continues at the same step of the same epoch, shard cursor converted")
    func otherRankCount() throws {
        let dir = TemporaryDirectory()
        // "2 ranks": per-rank batch 8 (global 16) over this rank's 64 images -> 8 steps per epoch.
        let twoRanks = Self.trainer(mixed: true, batch: 8)
        for _ in 0..<11 { try twoRanks.step() }   // warm-up epoch done, 3 steps into training
        let c = try Checkpoint.qat(twoRanks, model: "tiny", task: "qat", worldSize: 2)
        #expect(c.progress.globalBatch == 16 && c.progress.dataCursor == 2 * 24 && c.worldSize == 2)
        let url = try CheckpointWriter(directory: dir.url).write(c)
        let saved = try CheckpointReader.read(url)
        // One rank with the whole global batch of 16 over its 64 images: 4 steps per epoch.
        let oneRank = Self.trainer(mixed: true, initSeed: 7, batch: 16)
        try saved.restore(into: oneRank, model: "tiny", task: "qat", worldSize: 1, file: url.path)
        #expect(oneRank.globalStep == 11 && oneRank.epoch == 1 && oneRank.stepInEpoch == 3)
        #expect(oneRank.state.position == .init(epoch: 1, cursor: 48))
        for (a, b) in zip(oneRank.network.architectureParameters, twoRanks.network.architectureParameters) {
            #expect(a.parameter.value.array == b.parameter.value.array, "\(a.name)")
        }
        try oneRank.run()
        #expect(oneRank.history.count == 3 && oneRank.history.allSatisfy { $0.loss.isFinite })
    }
}
