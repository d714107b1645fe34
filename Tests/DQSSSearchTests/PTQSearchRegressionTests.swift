import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch

/// A tiny x2 SR network: conv 3->8, LeakyReLU, conv 8->12, PixelShuffle(2).
private func tinySR(rng: inout RNG) -> Sequential {
    Sequential(named: [
        ("conv1", Conv2d(3, 8, kernelSize: 3, padding: 1, rng: &rng)), ("act", LeakyReLU(negativeSlope: 0.1)),
        ("conv2", Conv2d(8, 12, kernelSize: 3, padding: 1, rng: &rng)), ("shuffle", PixelShuffle(upscaleFactor: 2)),
    ])
}

@Suite("PTQSearch with the L1 loss (SR)")
struct PTQSearchRegressionTests {
    @Test("step 0's loss is the L1 of the θ = 1/4 mixture on the whole batch; α/β move; step count and τ follow the schedule")
    func l1Search() throws {
        var rng = RNG(seed: 51)
        let net = tinySR(rng: &rng)
        net.setTraining(false)
        let lr = Tensor.uniform([12, 3, 4, 4], 0, 1, rng: &rng)
        let hr = Tensor.uniform([12, 3, 8, 8], 0, 1, rng: &rng)
        let mixed = try MixedQuantizedModel(model: net, candidates: syntheticCandidates(model: net, input: lr, bits: 4))
        // Reference: the soft mixture at τ = 1 with equal logits, L1 over all 12 pairs.
        mixed.setMode(.soft)
        mixed.setTemperature(1)
        let out = net.forward(lr)
        var s = 0.0
        for i in 0..<out.count { s += Double(abs(out.data[i] - hr.data[i])) }
        let expected = s / Double(out.count)

        var settings = PTQSearchSettings.annealed
        settings.epochs = 5
        settings.batchSize = 12   // one step per epoch over all pairs: the loss is order-independent
        let search = PTQSearch(model: net, mixed: mixed, settings: settings)
        let records = search.run(inputs: lr, targets: hr)
        #expect(records.count == 5)
        #expect(abs(records[0].loss - expected) < 1e-5, "\(records[0].loss) vs \(expected)")
        #expect(abs(records.last!.temperature - 0.02) < 1e-12)
        let logits = mixed.architectureParameters.flatMap { $0.parameter.value.array }
        #expect(logits.contains { abs($0 - 0.1) > 1e-4 }, "α/β never moved")
        #expect(records.allSatisfy { $0.loss.isFinite })
    }

    @Test("batches hold matching input/target rows (a 1-pair batch's loss is that pair's L1)")
    func pairing() throws {
        var rng = RNG(seed: 52)
        let net = tinySR(rng: &rng)
        let lr = Tensor.uniform([3, 3, 4, 4], 0, 1, rng: &rng)
        let hr = Tensor.uniform([3, 3, 8, 8], 0, 1, rng: &rng)
        let mixed = try MixedQuantizedModel(model: net, candidates: syntheticCandidates(model: net, input: lr, bits: 8))
        mixed.setMode(.soft)
        mixed.setTemperature(1)
        // Per-pair L1 of the starting mixture.
        let out = net.forward(lr).copy()
        let per = out.count / 3
        let pairLoss = (0..<3).map { k -> Double in
            var s = 0.0
            for i in 0..<per { s += Double(abs(out.data[k * per + i] - hr.data[k * per + i])) }
            return s / Double(per)
        }
        var settings = PTQSearchSettings.paper
        settings.epochs = 1
        settings.batchSize = 1
        settings.lr = 0   // nothing moves: every step scores the starting mixture
        let records = PTQSearch(model: net, mixed: mixed, settings: settings).run(inputs: lr, targets: hr)
        #expect(records.count == 3)
        // The visiting order is a permutation: each record matches exactly one pair's loss.
        let matched = records.map { r in pairLoss.firstIndex { abs($0 - r.loss) < 1e-6 } }
        #expect(Set(matched.compactMap { $0 }) == [0, 1, 2], "\(records.map(\.loss)) vs \(pairLoss)")
    }
}
