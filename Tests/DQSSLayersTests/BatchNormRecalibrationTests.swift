import Testing
import DQSSTensor
import DQSSLayers
import _TestSupport

@Suite("BatchNorm re-estimation")
struct BatchNormRecalibrationTests {
    @Test("running stats become the plain average of the batch means and unbiased variances, old values ignored")
    func plainAverage() {
        let bn = BatchNorm2d(1, eps: 0, momentum: 0.1)
        bn.runningMean.set([100])
        bn.runningVar.set([-7])
        // Batch 0: {1, 3} mean 2, unbiased var 2. Batch 1: {0, 0, 6, 6}... one channel, values per batch:
        // batch 1 {0, 6} mean 3, unbiased var 18. Batch 2 {4, 4} mean 4, var 0.
        let batches = [[Float(1), 3], [0, 6], [4, 4]].map { Tensor(shape: [2, 1, 1, 1], values: $0) }
        let model = Sequential([bn, ReLU()])
        let n = BatchNormRecalibration.reestimate(model, batchCount: 3) { batches[$0] }
        #expect(n == 1)
        #expect(abs(bn.runningMean[0] - 3) < 1e-6, "\(bn.runningMean.array)")          // (2 + 3 + 4) / 3
        #expect(abs(bn.runningVar[0] - 20.0 / 3) < 1e-5, "\(bn.runningVar.array)")      // (2 + 18 + 0) / 3
        #expect(bn.momentum == 0.1)
        #expect(!bn.isTraining)
    }

    @Test("only BatchNorm layers run in train mode; a layer already training stays training")
    func modesRestored() {
        let a = BatchNorm2d(1), b = BatchNorm2d(1)
        b.isTraining = true
        let model = Sequential([a, b])
        let x = Tensor(shape: [2, 1, 1, 1], values: [1, 5])
        BatchNormRecalibration.reestimate(model, batchCount: 1) { _ in x }
        #expect(!a.isTraining && b.isTraining)
        #expect(abs(a.runningMean[0] - 3) < 1e-6 && abs(a.runningVar[0] - 8) < 1e-6)
        // b saw a's train-mode output: normalised values ±1 (γ = 1, β = 0, ε = 1e-5), mean 0, unbiased var ≈ 2.
        #expect(abs(b.runningMean[0]) < 1e-6 && abs(b.runningVar[0] - 2) < 1e-4, "\(b.runningVar.array)")
    }
}
