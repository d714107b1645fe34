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
}
