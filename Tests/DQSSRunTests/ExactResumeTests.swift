import Foundation
import Testing
import DQSSTensor
import DQSSCheckpoint
import DQSSRun
import _TestSupport

/// Train k steps, checkpoint to HDF5, rebuild everything from the file, finish: the result must equal
/// an uninterrupted run bit for bit (weights, BN buffers, α, β, assignment, momentum, RNG, position).
@Suite("Exact resume")
struct ExactResumeTests {
    static let config = TinyMixedConfig(steps: 30, batch: 16, images: 96)

    func uninterrupted() throws -> Checkpoint {
        let run = try TinyMixedRun(config: Self.config)
        while !run.isFinished { run.trainStep() }
        return try run.checkpoint()
    }

    @Test("resuming mid-epoch, at an epoch end, and after the first step equals the uninterrupted run", arguments: [13, 12, 1])
    func resumeEqualsUninterrupted(k: Int) throws {
        let reference = try uninterrupted()
        let dir = TemporaryDirectory()
        let first = try TinyMixedRun(config: Self.config)
        for _ in 0..<k { first.trainStep() }
        let url = try CheckpointWriter(directory: dir.url).write(try first.checkpoint())

        let saved = try CheckpointReader.read(url)
        let resumed = try TinyMixedRun.resumed(from: saved, file: url.path, config: Self.config)
        #expect(resumed.step == k)
        while !resumed.isFinished { resumed.trainStep() }
        let final = try resumed.checkpoint()

        #expect(final.stateDict.count == reference.stateDict.count)
        for (a, b) in zip(final.stateDict, reference.stateDict) {
            #expect(a.name == b.name && a.array.bitwiseEqual(b.array), "\(a.name) differs")
        }
        let qa = try #require(final.quantization), qb = try #require(reference.quantization)
        for (a, b) in zip(qa.layers, qb.layers) {
            #expect(a.alpha.map(\.bitPattern) == b.alpha.map(\.bitPattern), "\(a.name).alpha")
            #expect(a.beta.map(\.bitPattern) == b.beta.map(\.bitPattern), "\(a.name).beta")
            #expect(a.activationAssignment == b.activationAssignment && a.weightAssignment == b.weightAssignment)
        }
        #expect(final.optimizer == reference.optimizer)
        #expect(final.rngStates == reference.rngStates)
        #expect(final.progress == reference.progress)
        #expect(CheckpointDigest.of(final) == CheckpointDigest.of(reference))
    }

    @Test("the oracle can fail: a run resumed without its momentum buffers ends elsewhere")
    func resumeWithoutMomentumDiffers() throws {
        let reference = try uninterrupted()
        let first = try TinyMixedRun(config: Self.config)
        for _ in 0..<10 { first.trainStep() }
        var c = try first.checkpoint()
        c.optimizer!.state = []
        let resumed = try TinyMixedRun.resumed(from: c, file: "memory", config: Self.config)
        while !resumed.isFinished { resumed.trainStep() }
        #expect(CheckpointDigest.of(try resumed.checkpoint()) != CheckpointDigest.of(reference))
    }
}
