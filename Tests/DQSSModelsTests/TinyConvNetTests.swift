import Testing
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import _TestSupport
import DQSSRun

@Suite("TinyConvNet")
struct TinyConvNetTests {
    @Test("PyTorch-like parameter and buffer names; depthwise conv2; output [N, classes]")
    func structure() {
        var rng = RNG(seed: 1)
        let net = TinyConvNet(classes: 6, rng: &rng)
        #expect(net.namedParameters().map(\.name) == ["conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight",
                                                       "bn2.weight", "bn2.bias", "conv3.weight", "bn3.weight",
                                                       "bn3.bias", "fc.weight", "fc.bias"])
        #expect(net.namedBuffers().map(\.name).contains("bn2.running_var"))
        #expect(net.namedParameters().first { $0.name == "conv2.weight" }!.parameter.value.shape == [16, 1, 3, 3])
        #expect(net.forward(Tensor(shape: [3, 3, 16, 16])).shape == [3, 6])
    }

    /// Composition check: every parameter gradient of the whole network (conv, depthwise conv, BN, ReLU,
    /// max-pool, global pool, flatten view, linear). ReLU and max-pool have kinks, so the seeds are ones
    /// whose max-pool windows hold no near-ties (seed 5, for instance, has a window whose top two values
    /// differ by 5e-6, where central differences are meaningless) and ε is small.
    @Test("whole-network parameter gradients match central differences (eval and train mode)")
    func gradients() {
        for training in [false, true] { for seed in [4, 6] as [UInt64] {
            var rng = RNG(seed: seed)
            let net = TinyConvNet(classes: 3, width: 4, rng: &rng)
            for (name, t) in net.namedBuffers() where name.hasSuffix("running_mean") { t.fillUniform(-0.2, 0.2, rng: &rng) }
            // Non-zero β: with β = 0, train-mode BN after a bias-free depthwise conv makes the loss
            // invariant to bn1's γ (true gradient 0), and the check would compare rounding noise.
            for (name, p) in net.namedParameters() where name.hasPrefix("bn") {
                p.value.fillUniform(name.hasSuffix("weight") ? 0.5 : -0.5, name.hasSuffix("weight") ? 1.5 : 0.5, rng: &rng)
            }
            net.setTraining(training)
            // Checks every parameter tensor (conv1 has no input gradient: it sees data).
            let r = checkGradients(net, input: Tensor.uniform([4, 3, 8, 8], -3, 3, rng: &rng), epsilon: 1e-4,
                                   maxChecks: 24, checkInput: false)
            #expect(r.maxError < 3e-2, "training \(training) seed \(seed): \(r)") }
        }
    }

    /// End-to-end: the engine (conv, depthwise conv, BN, ReLU, pools, linear, cross-entropy, SGD with a
    /// cosine schedule) must really learn. Fixed seeds, 96 steps (3 epochs × 32 batches of 32).
    /// Measured (debug, 2 threads): epoch losses 1.00, 0.52, 0.46; held-out top-1 0.20 -> 0.85, ~1.6 s.
    /// Thresholds leave a margin for float summation order (thread count) while staying far from chance
    /// (loss ln 6 ≈ 1.79, accuracy 1/6 ≈ 0.17).
    @Test("a small network learns the generated shapes: loss < 0.7 and held-out accuracy > 0.7 after 96 steps")
    func learns() throws {
        let train = SyntheticDataset(count: 1024, seed: 101)
        let test = SyntheticDataset(count: 384, seed: 202)
        var rng = RNG(seed: 7)
        let net = TinyConvNet(classes: train.classCount, rng: &rng)
        let before = try evaluateClassifier(net, data: test)
        let sgd = SGD(groups: [ParameterGroup(name: "weights", parameters: net.namedParameters().map(\.parameter),
                                              lr: 0.05, momentum: 0.9, weightDecay: 5e-4, schedule: .cosine(total: 3))])
        let report = try trainClassifier(net, data: train, optimizer: sgd, epochs: 3, batchSize: 32, rng: &rng)
        let after = try evaluateClassifier(net, data: test)
        print("TinyConvNet end-to-end: epoch losses \(report.epochLosses), test loss \(before.loss) -> \(after.loss), top-1 \(before.top1) -> \(after.top1), \(report.seconds) s")
        #expect(report.steps == 96)
        #expect(report.finalLoss < 0.7, "final-epoch train loss \(report.finalLoss)")
        #expect(after.top1 > 0.7, "held-out top-1 \(after.top1)")
        #expect(after.loss < before.loss)
    }
}
