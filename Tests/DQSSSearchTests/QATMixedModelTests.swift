import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSRun

@Suite("QATMixedModel")
struct QATMixedModelTests {
    @Test("installation: 4 activation and 4 weight candidates per quantized layer, named parameters, first/last rule (8 bits or fp32)")
    func installation() {
        var rng = RNG(seed: 1)
        let model = TinyConvNet(classes: 6, width: 8, rng: &rng)
        let net = QATMixedModel(model: model)
        #expect(net.quantizedLayers.map(\.point.name) == ["conv1", "conv2", "conv3", "fc"])
        #expect(net.quantizedLayers.map(\.bits) == [8, 4, 4, 8])
        #expect(net.activationHooks.allSatisfy { $0.branches.map(\.method) == [.dorefa, .dsq, .lsq, .pact] })
        #expect(net.architectureParameters.map(\.name).prefix(2) == ["conv1.alpha", "conv1.beta"])
        #expect(net.activationHooks[0].theta == [0.25, 0.25, 0.25, 0.25])
        // Per layer and side: DSQ u, α; LSQ s; PACT a.
        #expect(net.quantizerParameters.count == 4 * 2 * 4)
        #expect(net.quantizerParameters.map(\.name).contains("conv2.weight_quantizer.lsq.s"))
        // Weight quantizers start from W: DSQ u = max|W|.
        let w = net.quantizedLayers[1].point.layer.weight.value
        #expect(net.weightHooks[1].branches[1].effectiveThreshold == w.maxAbs())

        var rng2 = RNG(seed: 1)
        let fp32Edges = QATMixedModel(model: TinyConvNet(classes: 6, width: 8, rng: &rng2), firstLast: .fp32)
        #expect(fp32Edges.quantizedLayers.map(\.point.name) == ["conv2", "conv3"])
    }

    @Test("tiny DQSS QAT run: one pass per step trains W, quantizer parameters and α/β together; loss falls; θ stays on the simplex; derived network evaluates")
    func tinySearchRun() throws {
        let train = SyntheticDataset(count: 192, size: 16, seed: 101)
        let test = SyntheticDataset(count: 96, size: 16, seed: 201)
        var rng = RNG(seed: 1)
        let model = TinyConvNet(classes: train.classCount, width: 8, rng: &rng)
        let net = QATMixedModel(model: model)
        var c = QATConfiguration(epochs: 4)
        c.batchSize = 32; c.lr = 0.05; c.lrTheta = 0.05; c.seed = 3; c.evalEvery = 0
        let trainer = QATTrainer(network: net, configuration: c, trainData: EpochBatchSource(train), testData: test)
        #expect(trainer.optimizer.groups.map(\.name) == ["network", "architecture"])
        #expect(trainer.optimizer.groups[1].weightDecay == 0)
        let lsqBefore = net.quantizerParameters.map { $0.parameter.value.data[0] }
        try trainer.run()
        let h = trainer.history
        #expect(h.last!.loss < 0.8 * h[0].loss, "\(h.map(\.loss))")
        for p in net.architectureParameters {
            #expect(p.parameter.value.array != [0.1, 0.1, 0.1, 0.1], "\(p.name) never moved")
        }
        for hook in net.activationHooks + net.weightHooks {
            #expect(abs(hook.theta.reduce(0, +) - 1) < 1e-12)
        }
        #expect(net.quantizerParameters.map { $0.parameter.value.data[0] } != lsqBefore)
        let a = net.assignment()
        #expect(a.candidates == ["DoReFa", "DSQ", "LSQ", "PACT"] && a.layers.count == 4)
        #expect(a.activationCounts.reduce(0, +) == 4)
        net.setMode(.winnerTakeAll)
        let derived = try evaluateClassifier(model, data: test)
        #expect(derived.count == 96 && derived.top1 >= 0)
    }

    @Test("QATSearchSchedule: τ = τ_end^(t/S) (1 at t = 0, √τ_end half-way, τ_end from S on), derived from S on; paper: τ = 1, never derived")
    func scheduleValues() {
        let s = QATSearchSchedule.annealed(epochs: 10, searchEpochs: 4, temperatureEnd: 0.01)
        #expect(s.temperature(atTrainingEpoch: 0) == 1)
        #expect(abs(s.temperature(atTrainingEpoch: 2) - 0.1) < 1e-12)
        #expect(abs(s.temperature(atTrainingEpoch: 4) - 0.01) < 1e-12)
        #expect(abs(s.temperature(atTrainingEpoch: 9.5) - 0.01) < 1e-12)
        #expect(!s.isDerived(atTrainingEpoch: 3.99) && s.isDerived(atTrainingEpoch: 4))
        #expect(QATSearchSchedule.annealed(epochs: 7).searchEpochs == 4)
        #expect(QATSearchSchedule.annealed(epochs: 7).thetaOptimizer == .adam)
        #expect(QATSearchSchedule.paper.temperature(atTrainingEpoch: 50) == 1)
        #expect(!QATSearchSchedule.paper.isDerived(atTrainingEpoch: 1e6))
    }

    @Test("QATSearchSchedule with a mixture phase: τ = 1 and α/β frozen for M epochs, then τ_end^((t − M)/S), derived from M + S on; the description names the phase")
    func scheduleWithMixturePhase() {
        let s = QATSearchSchedule.annealed(epochs: 10, searchEpochs: 4, temperatureEnd: 0.01, mixtureEpochs: 3)
        #expect(s.isMixture(atTrainingEpoch: 0) && s.isMixture(atTrainingEpoch: 2.99) && !s.isMixture(atTrainingEpoch: 3))
        #expect(s.temperature(atTrainingEpoch: 0) == 1 && s.temperature(atTrainingEpoch: 2.99) == 1)
        #expect(s.temperature(atTrainingEpoch: 3) == 1)
        #expect(abs(s.temperature(atTrainingEpoch: 5) - 0.1) < 1e-12)
        #expect(abs(s.temperature(atTrainingEpoch: 7) - 0.01) < 1e-12)
        #expect(!s.isDerived(atTrainingEpoch: 6.99) && s.isDerived(atTrainingEpoch: 7))
        #expect(s.description == "annealed (mixture 3 epochs, search 4 epochs, τ_end 0.01, adam)")
        // Default search length: half of what follows the mixture phase, rounded up; no mixture phase by default.
        #expect(QATSearchSchedule.annealed(epochs: 10, mixtureEpochs: 3).searchEpochs == 4)
        #expect(QATSearchSchedule.annealed(epochs: 10).mixtureEpochs == 0)
        #expect(QATSearchSchedule.annealed(epochs: 10).description == "annealed (search 5 epochs, τ_end 0.02, adam)")
        #expect(!QATSearchSchedule.paper.isMixture(atTrainingEpoch: 0))
    }

    @Test("annealed DQSS QAT with a mixture phase: the weights train while α/β stay at their start and θ is uniform; the search phase then moves α/β")
    func mixturePhaseFreezesTheta() throws {
        let train = SyntheticDataset(count: 128, size: 16, seed: 103)
        var rng = RNG(seed: 2)
        let net = QATMixedModel(model: TinyConvNet(classes: train.classCount, width: 8, rng: &rng))
        var c = QATConfiguration(epochs: 3)
        c.batchSize = 32; c.lr = 0.05; c.lrTheta = 1e-2; c.seed = 4; c.evalEvery = 0
        c.searchSchedule = .annealed(epochs: 3, searchEpochs: 1, temperatureEnd: 0.02, mixtureEpochs: 1)
        let trainer = QATTrainer(network: net, configuration: c, trainData: EpochBatchSource(train))
        let thetaStart = net.architectureParameters.map(\.parameter.value.array)
        var atMixtureEnd: (theta: [[Float]], weights: [[Float]], temperatures: [Double])?
        var weightsAtMixtureStart: [[Float]] = []
        trainer.epochFinished = { t in
            if t.epoch == c.warmupEpochs { weightsAtMixtureStart = net.model.namedParameters().map(\.parameter.value.array) }
            if t.epoch == c.warmupEpochs + 1 {
                atMixtureEnd = (net.architectureParameters.map(\.parameter.value.array),
                                net.model.namedParameters().map(\.parameter.value.array),
                                (net.activationHooks + net.weightHooks).map(\.temperature))
            }
        }
        try trainer.run()
        let m = try #require(atMixtureEnd)
        #expect(m.theta == thetaStart, "α/β moved in the mixture phase")
        #expect(m.temperatures.allSatisfy { $0 == 1 })
        #expect(m.weights != weightsAtMixtureStart, "the weights did not train in the mixture phase")
        let moved = zip(net.architectureParameters.map(\.parameter.value.array), thetaStart)
            .flatMap { zip($0, $1).map { abs($0 - $1) } }.max() ?? 0
        #expect(moved > 1e-3, "α/β did not move in the search phase (\(moved))")
    }

    @Test("annealed DQSS QAT: Adam moves α/β by far more than the paper's SGD, the search phase ends one-hot-like, then the derived network trains with α/β frozen and only argmax branches running")
    func annealedRun() throws {
        let train = SyntheticDataset(count: 192, size: 16, seed: 101)
        func run(_ schedule: QATSearchSchedule, lrTheta: Float) throws -> (QATMixedModel, QATTrainer, [[Float]]) {
            var rng = RNG(seed: 1)
            let net = QATMixedModel(model: TinyConvNet(classes: train.classCount, width: 8, rng: &rng))
            var c = QATConfiguration(epochs: 4)
            c.batchSize = 32; c.lr = 0.05; c.lrTheta = lrTheta; c.seed = 3; c.evalEvery = 0
            c.searchSchedule = schedule
            let trainer = QATTrainer(network: net, configuration: c, trainData: EpochBatchSource(train))
            var atDerivation: [[Float]] = []
            trainer.epochFinished = { t in
                // End of training epoch 2 = end of the search phase: remember α/β there.
                if t.epoch == c.warmupEpochs + 2 { atDerivation = net.architectureParameters.map(\.parameter.value.array) }
            }
            try trainer.run()
            return (net, trainer, atDerivation)
        }
        let (paperNet, _, _) = try run(.paper, lrTheta: 1e-4)
        let schedule = QATSearchSchedule.annealed(epochs: 4, searchEpochs: 2, temperatureEnd: 0.02)
        let (net, trainer, atDerivation) = try run(schedule, lrTheta: 1e-2)
        #expect(trainer.thetaOptimizer != nil && trainer.optimizer.groups.map(\.name) == ["network"])
        func moved(_ n: QATMixedModel) -> Float {
            n.architectureParameters.flatMap { $0.parameter.value.array.map { abs($0 - 0.1) } }.max() ?? 0
        }
        // 24 steps: Adam at 1e-2 moves logits by up to ~0.24; SGD at 1e-4 by about 1e-5 or less.
        #expect(moved(net) > 0.05, "annealed moved \(moved(net))")
        #expect(moved(paperNet) < 1e-3, "paper moved \(moved(paperNet))")
        // Frozen after the search phase: α/β at the end equal those at the derivation.
        #expect(net.architectureParameters.map(\.parameter.value.array) == atDerivation)
        #expect(trainer.isDerivedPhase || trainer.isFinished)
        #expect(net.activationHooks.allSatisfy { $0.mode == .winnerTakeAll && abs($0.temperature - 0.02) < 1e-12 })
        // Annealing sharpens the choices: the margins (top minus second θ) at τ_end are several times those the
        // same logits give at τ = 1 (measured here after only 12 search steps: mean margin 0.40 at τ_end).
        let margins = net.thetaMargins().flatMap { [$0.activation, $0.weight] }
        for h in net.activationHooks + net.weightHooks { h.temperature = 1 }
        let plain = net.thetaMargins().flatMap { [$0.activation, $0.weight] }
        let mean = { (m: [Double]) in m.reduce(0, +) / Double(m.count) }
        #expect(mean(margins) > 5 * mean(plain) && mean(margins) > 0.2, "τ_end \(margins) vs τ = 1 \(plain)")
        #expect(trainer.history.map(\.lrTheta).suffix(2).allSatisfy { $0 == 1e-2 })
    }
}
