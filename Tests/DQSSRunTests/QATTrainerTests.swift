import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSRun

/// Generated "shapes" data and a TinyConvNet (4-bit QAT, first/last layer 8-bit), small enough for seconds.
struct TinyQATSetup {
    let train: SyntheticDataset
    let test: SyntheticDataset
    let model: TinyConvNet

    init(seed: UInt64 = 1, trainCount: Int = 192) {
        train = SyntheticDataset(count: trainCount, size: 16, seed: 100 + seed)
        test = SyntheticDataset(count: 96, size: 16, seed: 200 + seed)
        var rng = RNG(seed: seed)
        model = TinyConvNet(classes: train.classCount, width: 8, rng: &rng)
    }

    func configuration(epochs: Int, warmup: Int = 1) -> QATConfiguration {
        var c = QATConfiguration(epochs: epochs)
        c.warmupEpochs = warmup
        c.batchSize = 32
        c.lr = 0.05
        c.lrTheta = 0.01
        c.seed = 3
        c.evalEvery = 0
        return c
    }
}

@Suite("QATTrainer")
struct QATTrainerTests {
    @Test("tiny LSQ QAT run (generated data): the training loss falls, warm-up and training epochs recorded, final test top-1 reported")
    func lossFalls() throws {
        let s = TinyQATSetup()
        let net = UniformQATModel(model: s.model, method: .lsq)
        #expect(net.quantizedLayers.map(\.bits) == [8, 4, 4, 8])   // §2.2: first conv and classifier at 8 bits
        let trainer = QATTrainer(network: net, configuration: s.configuration(epochs: 5),
                                 trainData: EpochBatchSource(s.train), testData: s.test)
        try trainer.run()
        let h = trainer.history
        #expect(h.map(\.phase) == ["warmup", "train", "train", "train", "train", "train"])
        #expect(h.last!.loss < 0.75 * h[0].loss, "\(h.map(\.loss))")
        #expect(h.last!.loss < h[1].loss, "\(h.map(\.loss))")
        #expect(h.dropLast().allSatisfy { $0.testTop1 == nil } && h.last!.testTop1 != nil)
        #expect(trainer.globalStep == 6 * 6)
        // The quantizers left their initial values and stay in their domain.
        for p in net.quantizerParameters { #expect(p.parameter.value.data[0] > 0, "\(p.name)") }
        #expect(net.activationHooks[1].quantizer.isUnsigned)    // post-ReLU input observed ≥ 0
        #expect(!net.activationHooks[0].quantizer.isUnsigned)   // the (centred) image is signed
    }

    @Test("warm-up: quantizer parameters frozen at the running estimates, network lr ramps linearly to its base value")
    func warmupFreezesAndRamps() throws {
        let s = TinyQATSetup()
        let net = UniformQATModel(model: s.model, method: .pact)
        var c = s.configuration(epochs: 1)
        c.lr = 0.06
        let trainer = QATTrainer(network: net, configuration: c, trainData: EpochBatchSource(s.train))
        try trainer.step()
        #expect(abs(trainer.optimizer.groups[0].lr - 0.06 / 6) < 1e-7)   // step 1 of 6 warm-up steps
        // During warm-up the PACT clip is the observed EMA, not a learned value.
        let hook = net.activationHooks[1]
        #expect(hook.observing && hook.quantizer.effectiveThreshold == max(hook.statistics.maxAbs, learnableQuantizerFloor))
        #expect(net.quantizerParameters.allSatisfy { !$0.parameter.requiresGrad })
        for _ in 1..<6 { try trainer.step() }
        #expect(trainer.history.count == 1 && trainer.history[0].phase == "warmup")
        #expect(abs(trainer.history[0].lr - 0.06) < 1e-7)
        try trainer.step()
        #expect(!hook.observing && net.quantizerParameters.allSatisfy { $0.parameter.requiresGrad })
        // Weight quantizers were initialised from the W at the end of warm-up: a_w = max|W|.
        let w = net.quantizedLayers[1].point.layer.weight.value
        _ = w
    }

    @Test("a NaN in the network stops the run with an error naming epoch and step")
    func nonFiniteStops() throws {
        let s = TinyQATSetup()
        let net = UniformQATModel(model: s.model, method: .dsq)
        let trainer = QATTrainer(network: net, configuration: s.configuration(epochs: 1, warmup: 0),
                                 trainData: EpochBatchSource(s.train))
        try trainer.step()
        let fc = net.quantizedLayers.last!.point.layer
        fc.weight.value.data[0] = .nan
        do {
            try trainer.step()
            Issue.record("expected a non-finite error")
        } catch let e as QATError {
            #expect("\(e)".contains("epoch 1, step 2"), "\(e)")
        }
    }

    @Test("state round trip: a run restored from a mid-epoch snapshot (weights, quantizer parameters, trainer state) ends bit-identical to the uninterrupted run")
    func resumeIsExact() throws {
        func make() -> (TinyQATSetup, UniformQATModel, QATTrainer) {
            let s = TinyQATSetup(seed: 4, trainCount: 96)
            let net = UniformQATModel(model: s.model, method: .lsq)
            return (s, net, QATTrainer(network: net, configuration: s.configuration(epochs: 2),
                                       trainData: EpochBatchSource(s.train)))
        }
        func snapshot(_ n: UniformQATModel) -> [[Float]] {
            (n.model.namedParameters() + n.quantizerParameters).map { $0.parameter.value.array }
                + n.model.namedBuffers().map { $0.tensor.array }
        }
        let (_, netA, a) = make()
        for _ in 0..<5 { try a.step() }      // warm-up (3 steps) + 2 training steps
        let saved = snapshot(netA)
        let state = a.state
        try a.run()
        let (_, netB, b) = make()
        for (dst, src) in zip((netB.model.namedParameters() + netB.quantizerParameters).map { $0.parameter.value }
                              + netB.model.namedBuffers().map(\.tensor), saved) { dst.set(src) }
        try b.restore(state)
        try b.run()
        #expect(snapshot(netA) == snapshot(netB))
        #expect(a.history.map(\.loss) == b.history.map(\.loss))
        #expect(a.history.map(\.trainTop1) == b.history.map(\.trainTop1))
    }
}
