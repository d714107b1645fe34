import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import _TestSupport

/// Turns a loss into a UnaryLayer with a 1-element output so `checkGradients` can check dL/dprediction.
private final class LossProbe: UnaryLayer {
    var isTraining = false
    let out = Tensor(shape: [1]), grad = Tensor(shape: [0])
    let f: (Tensor) -> Float, b: () -> Tensor
    init(forward: @escaping (Tensor) -> Float, backward: @escaping () -> Tensor) { f = forward; b = backward }
    func forward(_ x: Tensor) -> Tensor { out[0] = f(x); return out }
    func backward(_ g: Tensor) -> Tensor { grad.assign(b()); grad.scale(by: g[0]); return grad }
}

@Suite("Losses")
struct LossTests {
    @Test("cross-entropy equals a hand-computed log-softmax, also for huge logits")
    func crossEntropyForward() {
        let ce = SoftmaxCrossEntropy()
        // Row 0: logits (0, ln 3) label 1 -> −ln(3/4); row 1: (1000, 1000) label 0 -> ln 2.
        let l = ce.forward(logits: Tensor(shape: [2, 2], values: [0, Float(log(3.0)), 1000, 1000]), labels: [1, 0])
        let expected = (-log(0.75) + log(2.0)) / 2
        #expect(abs(Double(l) - expected) < 1e-6, "\(l)")
        #expect(maxAbsDiff(ce.backward().array, [0.125, -0.125, -0.25, 0.25]) < 1e-6)
    }

    @Test("cross-entropy gradient matches central differences")
    func crossEntropyGradient() {
        var rng = RNG(seed: 51)
        let ce = SoftmaxCrossEntropy()
        let labels = [2, 0, 4]
        let probe = LossProbe(forward: { ce.forward(logits: $0, labels: labels) }, backward: { ce.backward() })
        let r = checkGradients(probe, input: Tensor.uniform([3, 5], -2, 2, rng: &rng), epsilon: 1e-2)
        #expect(r.maxError < 1e-2, "\(r)")
    }

    @Test("distillation KL equals a hand-computed divergence and is zero when student equals teacher")
    func distillationForward() {
        let kd = DistillationKL()
        // Teacher (0, ln 3): p = (1/4, 3/4); student (0, 0): q = (1/2, 1/2).
        // KL = 1/4 ln(1/2) + 3/4 ln(3/2); gradient (q − p) = (1/4, −1/4) for N = 1.
        let l = kd.forward(logits: Tensor(shape: [1, 2], values: [0, 0]),
                           teacher: Tensor(shape: [1, 2], values: [0, Float(log(3.0))]))
        let expected = 0.25 * log(0.5) + 0.75 * log(1.5)
        #expect(abs(Double(l) - expected) < 1e-6, "\(l) vs \(expected)")
        #expect(maxAbsDiff(kd.backward().array, [0.25, -0.25]) < 1e-6)
        let z = Tensor(shape: [2, 3], values: [1, -2, 0.5, 300, 0, -300])
        #expect(abs(kd.forward(logits: z, teacher: z.copy())) < 1e-7)
        #expect(kd.backward().array.allSatisfy { abs($0) < 1e-7 })
    }

    @Test("distillation KL per row equals each row's hand-computed divergence; the rows' mean is the loss")
    func distillationPerRow() {
        // Row 0 as above: 1/4 ln(1/2) + 3/4 ln(3/2); row 1: student equals teacher, 0.
        let logits = Tensor(shape: [2, 2], values: [0, 0, 1, -1])
        let teacher = Tensor(shape: [2, 2], values: [0, Float(log(3.0)), 1, -1])
        let rows = DistillationKL.perRow(logits: logits, teacher: teacher)
        #expect(rows.count == 2)
        #expect(abs(rows[0] - (0.25 * log(0.5) + 0.75 * log(1.5))) < 1e-7 && abs(rows[1]) < 1e-12)
        var rng = RNG(seed: 54)
        let z = Tensor.uniform([6, 10], -3, 3, rng: &rng), t = Tensor.uniform([6, 10], -3, 3, rng: &rng)
        let perRow = DistillationKL.perRow(logits: z, teacher: t)
        #expect(abs(perRow.reduce(0, +) / 6 - Double(DistillationKL().forward(logits: z, teacher: t))) < 1e-6)
        #expect(perRow.allSatisfy { $0 > 0 })
    }

    @Test("distillation KL gradient matches central differences")
    func distillationGradient() {
        var rng = RNG(seed: 53)
        let kd = DistillationKL()
        let teacher = Tensor.uniform([3, 5], -3, 3, rng: &rng)
        let probe = LossProbe(forward: { kd.forward(logits: $0, teacher: teacher) }, backward: { kd.backward() })
        let r = checkGradients(probe, input: Tensor.uniform([3, 5], -2, 2, rng: &rng), epsilon: 1e-2)
        #expect(r.maxError < 1e-2, "\(r)")
    }

    @Test("L1 and MSE forward values and gradients")
    func regressionLosses() {
        let p = Tensor(shape: [4], values: [1, 2, 3, 4]), t = Tensor(shape: [4], values: [0, 2, 5, 3])
        let l1 = L1Loss(), mse = MSELoss()
        #expect(l1.forward(p, t) == 1)      // (1 + 0 + 2 + 1) / 4
        #expect(l1.backward().array == [0.25, 0, -0.25, 0.25])
        #expect(mse.forward(p, t) == 1.5)   // (1 + 0 + 4 + 1) / 4
        #expect(mse.backward().array == [0.5, 0, -1, 0.5])

        var rng = RNG(seed: 52)
        let target = Tensor.uniform([2, 3, 2, 2], rng: &rng)
        let x = Tensor(shape: target.shape)
        for i in 0..<x.count { x[i] = target[i] + (i % 2 == 0 ? 1 : -1) * rng.uniform(0.1, 1) }  // away from |p − t| = 0
        for (name, probe) in [("L1", LossProbe(forward: { l1.forward($0, target) }, backward: { l1.backward() })),
                              ("MSE", LossProbe(forward: { mse.forward($0, target) }, backward: { mse.backward() }))] {
            let r = checkGradients(probe, input: x, epsilon: 1e-2)
            #expect(r.maxError < 1e-2, "\(name): \(r)")
        }
    }

    @Test("argmax, top-k counts and accuracy")
    func accuracyHelpers() {
        let z = Tensor(shape: [3, 3], values: [0.1, 0.7, 0.2,
                                               0.5, 0.5, 0.0,
                                               0.3, 0.2, 0.1])
        #expect(argmaxPredictions(z) == [1, 0, 0])
        #expect(correctCount(z, labels: [1, 1, 2]) == 1)
        #expect(correctCount(z, labels: [1, 1, 2], topK: 2) == 2)
        #expect(accuracy(z, labels: [1, 0, 0]) == 1)
    }
}
