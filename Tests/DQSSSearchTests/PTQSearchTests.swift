import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch
import DQSSDistributed

@Suite("PTQSearch")
struct PTQSearchTests {
    @Test("paper schedule: 3 epochs, lr 1e-4, 1e-5, 1e-6, batch 256 on 256 images = 3 steps, τ = 1")
    func paperSchedule() {
        let s = PTQSearchSettings.paper
        #expect(s.stepsPerEpoch(images: 256) == 1)
        let lrs = (0..<3).map { s.learningRate(epoch: $0, step: $0, totalSteps: 3) }
        #expect(abs(lrs[0] - 1e-4) < 1e-10 && abs(lrs[1] - 1e-5) < 1e-11 && abs(lrs[2] - 1e-6) < 1e-12)
        #expect((0..<3).allSatisfy { s.temperature(step: $0, totalSteps: 3) == 1 })
    }

    @Test("annealed schedule: τ = 0.02^(step/(T−1)) from 1 to 0.02, cosine lr from 1e-2 towards 0")
    func annealedSchedule() {
        let s = PTQSearchSettings.annealed
        let total = s.stepsPerEpoch(images: 256) * s.epochs
        #expect(total == 160)
        #expect(s.temperature(step: 0, totalSteps: total) == 1)
        #expect(abs(s.temperature(step: total - 1, totalSteps: total) - 0.02) < 1e-15)
        #expect(abs(s.temperature(step: 53, totalSteps: total) - pow(0.02, 53.0 / 159)) < 1e-15)
        #expect(abs(s.learningRate(epoch: 0, step: 0, totalSteps: total) - 1e-2) < 1e-9)
        #expect(abs(s.learningRate(epoch: 10, step: 80, totalSteps: total) - 5e-3) < 1e-6)
        #expect(s.learningRate(epoch: 19, step: 159, totalSteps: total) < 1e-5)
    }

    @Test("an annealed search on a small network keeps θ on the simplex and drives the mixture towards one-hot")
    func annealedSearchRuns() throws {
        let (net, images, labels, mixed) = try smallSearchFixture(images: 24)
        var settings = PTQSearchSettings.annealed
        settings.epochs = 8
        settings.batchSize = 8
        let search = PTQSearch(model: net, mixed: mixed, settings: settings)
        let startMax = mixed.activationHooks.map { $0.theta.max()! }
        let records = search.run(images: images, labels: labels)
        #expect(records.count == 24)
        #expect(records.allSatisfy { $0.loss.isFinite })
        #expect(abs(records.last!.temperature - 0.02) < 1e-12)
        let hooks = mixed.activationHooks + mixed.weightHooks
        for h in hooks {
            let t = h.theta
            #expect(t.allSatisfy { $0 >= 0 } && abs(t.reduce(0, +) - 1) < 1e-12)
        }
        #expect(startMax.allSatisfy { $0 == 0.25 })
        let endMax = hooks.map { $0.theta.max()! }
        #expect(endMax.reduce(0, +) / Double(endMax.count) > 0.6, "\(endMax)")
        #expect(net.namedParameters().allSatisfy { !$0.parameter.requiresGrad })
        _ = mixed.assignment()
    }
}

@Suite("PTQSearch with the KD loss")
struct PTQSearchDistillationTests {
    @Test("with teacher logits the search loss is the KL divergence to the teacher's softmax, labels unused")
    func distillationLoss() throws {
        var rng = RNG(seed: 37)
        let net = SmallNet(rng: &rng)
        net.setTraining(false)
        let images = Tensor.normal([12, 3, 8, 8], rng: &rng)
        let teacher = net.forward(images).copy()   // the FP32 network's logits
        let mixed = try MixedQuantizedModel(model: net, candidates: syntheticCandidates(model: net, input: images, bits: 3))
        // The loss of the first step, computed independently: soft mixture at θ = 1/N (τ = 1), all images.
        mixed.setMode(.soft)
        mixed.setTemperature(1)
        let expected = DistillationKL().forward(logits: net.forward(images), teacher: teacher)
        var settings = PTQSearchSettings.paper
        settings.batchSize = 12
        settings.epochs = 2
        settings.optimizer = .adam   // moves every logit with a non-zero gradient by about lr
        settings.lr = 1e-2
        let search = PTQSearch(model: net, mixed: mixed, settings: settings)
        let wrongLabels = [Int](repeating: 0, count: 12)
        let records = try search.run(images: images, labels: wrongLabels, teacherLogits: teacher, firstImage: 0,
                                     totalImages: 12, reducer: LocalGradientReducer())
        #expect(records.count == 2)
        #expect(abs(records[0].loss - Double(expected)) < 1e-6 * max(1, Double(expected)), "\(records[0].loss) vs \(expected)")
        #expect(expected > 0)
        // α/β moved: the KD gradient is not zero.
        let moved = mixed.architectureParameters.filter { p in p.parameter.value.array.contains { abs($0 - 0.1) > 1e-3 } }
        #expect(moved.count == mixed.architectureParameters.count, "\(mixed.architectureParameters.map { $0.parameter.value.array })")
    }
}

@Suite("PTQSearch with progressive fixing")
struct PTQSearchProgressiveFixingTests {
    @Test("progressive fixing: after step s floor(H·(s+1)/T) sides run one-hot, each fixed side the most decisive free one when fixed, its logits frozen, and the derived network is the fixed winners")
    func progressiveFixing() throws {
        let (net, images, labels, mixed) = try smallSearchFixture(images: 24)
        var settings = PTQSearchSettings.annealed
        settings.epochs = 8
        settings.batchSize = 8
        settings.progressiveFixing = true
        let hooks = mixed.activationHooks + mixed.weightHooks
        let total = 24
        // Fixing does not change logits, so the margins a callback reads are the ones the fixing compared.
        var fixedLogits: [Int: [Float]] = [:]
        var failures: [String] = []
        let search = PTQSearch(model: net, mixed: mixed, settings: settings)
        search.run(images: images, labels: labels) { rec in
            let s = rec.step
            let fixedNow = hooks.indices.filter { hooks[$0].mode == .winnerTakeAll }
            let expected = hooks.count * (s + 1) / total
            if fixedNow.count != expected { failures.append("step \(s): \(fixedNow.count) fixed, expected \(expected)") }
            // Sides fixed before keep their logits exactly.
            for (i, v) in fixedLogits where hooks[i].logits.value.array != v { failures.append("step \(s): side \(i) moved after fixing") }
            // The newly fixed sides were at least as decisive (at this step's τ, on the logits after this
            // step's update) as every side still free.
            let new = fixedNow.filter { fixedLogits[$0] == nil }
            let free = hooks.indices.filter { hooks[$0].mode == .soft }
            let margins = hooks.map(\.thetaMargin)
            if let least = new.map({ margins[$0] }).min(), let most = free.map({ margins[$0] }).max(), least < most {
                failures.append("step \(s): fixed a side with margin \(least) while one with \(most) stays free")
            }
            for i in new { fixedLogits[i] = hooks[i].logits.value.array }
        }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        #expect(fixedLogits.count == hooks.count)
        // After the run the hooks are back in soft mode, and the derived assignment is the fixed winners.
        #expect(hooks.allSatisfy { $0.mode == .soft })
        let a = mixed.assignment()
        let nA = mixed.activationHooks.count
        for (l, layer) in a.layers.enumerated() {
            #expect(layer.activation == ArchitectureSoftmax.argmax(fixedLogits[l]!))
            #expect(layer.weight == ArchitectureSoftmax.argmax(fixedLogits[nA + l]!))
        }
    }

    @Test("without progressive fixing the search never runs a side one-hot")
    func noFixingByDefault() throws {
        let (net, images, labels, mixed) = try smallSearchFixture(images: 16)
        var settings = PTQSearchSettings.annealed
        settings.epochs = 2
        settings.batchSize = 8
        #expect(!settings.progressiveFixing)
        let hooks = mixed.activationHooks + mixed.weightHooks
        var oneHot = 0
        PTQSearch(model: net, mixed: mixed, settings: settings).run(images: images, labels: labels) { _ in
            oneHot += hooks.filter { $0.mode != .soft }.count
        }
        #expect(oneHot == 0)
    }
}

@Suite("PTQSearch with straight-through Gumbel sampling")
struct PTQSearchGumbelTests {
    @Test("straight-through Gumbel: each step's loss is the one-hot network argmax(l/τ + g) of the step's logits and noise, the samples are not always the argmax, the same seed gives the same search, and the noise is cleared after the run")
    func sampledOneHotNetworks() throws {
        var settings = PTQSearchSettings.annealed
        settings.epochs = 6
        settings.batchSize = 24   // one batch per step: the step's loss is the mean over all images
        settings.gumbelStraightThrough = true
        let (net, images, labels, mixed) = try smallSearchFixture(images: 24)
        let hooks = mixed.activationHooks + mixed.weightHooks
        let initial = hooks.map { $0.logits.value.array }
        var noise: [[[Double]]] = [], after: [[[Float]]] = [], records: [SearchStepRecord] = []
        PTQSearch(model: net, mixed: mixed, settings: settings).run(images: images, labels: labels) { rec in
            noise.append(hooks.map { $0.gumbelNoise ?? [] })
            after.append(hooks.map { $0.logits.value.array })
            records.append(rec)
        }
        #expect(records.count == 6 && noise.allSatisfy { $0.allSatisfy { $0.count == 4 } })
        #expect(hooks.allSatisfy { $0.gumbelNoise == nil && $0.mode == .soft })
        #expect(Set(noise.map { $0[0] }).count == 6, "fresh noise every step")
        // Oracle: the one-hot network of each step's sample, run in winner-take-all mode on a fresh fixture.
        let (net2, _, _, check) = try smallSearchFixture(images: 24)
        check.setMode(.winnerTakeAll)
        var offArgmax = 0
        for (s, rec) in records.enumerated() {
            let before = s == 0 ? initial : after[s - 1]
            for (h, (l, g)) in zip(check.activationHooks + check.weightHooks, zip(before, noise[s])) {
                let z = zip(l, g).map { Double($0) / rec.temperature + $1 }
                let k = ArchitectureSoftmax.argmax(z)
                if k != ArchitectureSoftmax.argmax(l) { offArgmax += 1 }
                h.logits.value.set((0..<4).map { $0 == k ? 1 : 0 })
            }
            let loss = SoftmaxCrossEntropy().forward(logits: net2.forward(images), labels: labels)
            #expect(abs(Double(loss) - rec.loss) < 1e-5 * max(1, rec.loss), "step \(s): \(rec.loss) vs \(loss)")
        }
        #expect(offArgmax > 0, "every sample was the argmax")
        // Same seed, same search.
        let (net3, _, _, again) = try smallSearchFixture(images: 24)
        PTQSearch(model: net3, mixed: again, settings: settings).run(images: images, labels: labels)
        #expect((again.activationHooks + again.weightHooks).map { $0.logits.value.array } == after.last!)
    }
}

/// SmallNet (seed 31) in eval mode, `images` random 8×8 images with labels in 0..<5, and its mixed model over
/// four synthetic 4-bit candidates: the fixture of the search tests above.
func smallSearchFixture(images count: Int) throws -> (SmallNet, Tensor, [Int], MixedQuantizedModel) {
    var rng = RNG(seed: 31)
    let net = SmallNet(rng: &rng)
    net.setTraining(false)
    let images = Tensor.normal([count, 3, 8, 8], rng: &rng)
    let labels = (0..<count).map { _ in rng.int(below: 5) }
    let mixed = try MixedQuantizedModel(model: net, candidates: syntheticCandidates(model: net, input: images, bits: 4))
    return (net, images, labels, mixed)
}
