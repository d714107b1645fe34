import Testing
import DQSSTensor
import DQSSLayers
import _TestSupport

@Suite("BatchNorm2d")
struct BatchNorm2dTests {
    @Test("train forward normalises with batch statistics; running stats use the unbiased variance")
    func trainForwardAndRunningStats() {
        let bn = BatchNorm2d(2, eps: 0, momentum: 0.1)
        bn.isTraining = true
        bn.weight.value.set([2, 1])
        bn.bias.value.set([1, 0])
        // Channel 0 values {1, 3, 5, 7}: mean 4, biased var 5, unbiased var 20/3.
        // Channel 1 values {0, 0, 2, 2}: mean 1, biased var 1, unbiased var 4/3.
        let x = Tensor(shape: [2, 2, 1, 2], values: [1, 3, 0, 0, 5, 7, 2, 2])
        let y = bn.forward(x)
        let s5 = Float(5).squareRoot()
        let expected: [Float] = [2 * -3 / s5 + 1, 2 * -1 / s5 + 1, -1, -1, 2 * 1 / s5 + 1, 2 * 3 / s5 + 1, 1, 1]
        #expect(maxAbsDiff(y.array, expected) < 1e-5, "\(y.array)")
        #expect(maxAbsDiff(bn.runningMean.array, [0.4, 0.1]) < 1e-6)
        #expect(maxAbsDiff(bn.runningVar.array, [0.9 + 0.1 * 20 / 3, 0.9 + 0.1 * 4 / 3]) < 1e-6)
        #expect(bn.numBatchesTracked[0] == 1)
        _ = bn.forward(x)
        #expect(maxAbsDiff(bn.runningMean.array, [0.9 * 0.4 + 0.4, 0.9 * 0.1 + 0.1]) < 1e-6)
        #expect(bn.numBatchesTracked[0] == 2)
    }

    @Test("eval forward uses the running statistics and leaves them unchanged")
    func evalForward() {
        let bn = BatchNorm2d(1, eps: 0)
        bn.runningMean.set([1])
        bn.runningVar.set([4])
        bn.weight.value.set([3])
        bn.bias.value.set([-1])
        let y = bn.forward(Tensor(shape: [1, 1, 1, 3], values: [1, 3, -1]))
        #expect(y.array == [-1, 2, -4])  // 3 (x − 1)/2 − 1
        #expect(bn.runningMean.array == [1] && bn.runningVar.array == [4] && bn.numBatchesTracked[0] == 0)
    }

    @Test("train-mode gradients (input, γ, β) match central differences on a non-square input")
    func trainGradients() {
        var rng = RNG(seed: 11)
        let bn = BatchNorm2d(3)
        bn.weight.value.set([1.5, -0.7, 0.9])
        bn.bias.value.set([0.1, 0.2, -0.3])
        bn.isTraining = true
        let x = Tensor.uniform([2, 3, 3, 5], -2, 2, rng: &rng)
        let r = checkGradients(bn, input: x, epsilon: 1e-2)
        #expect(r.maxError < 2e-2, "\(r)")
    }

    @Test("eval-mode gradients (input, γ, β) match central differences")
    func evalGradients() {
        var rng = RNG(seed: 12)
        let bn = BatchNorm2d(3)
        bn.runningMean.set([0.5, -1, 0])
        bn.runningVar.set([2, 0.5, 1.5])
        bn.weight.value.set([1.5, -0.7, 0.9])
        let x = Tensor.uniform([2, 3, 4, 2], -2, 2, rng: &rng)
        let r = checkGradients(bn, input: x, epsilon: 1e-2)
        #expect(r.maxError < 1e-2, "\(r)")
    }

    @Test("state_dict names and decay flags are PyTorch's")
    func names() {
        let bn = BatchNorm2d(4)
        #expect(bn.namedParameters().map(\.name) == ["weight", "bias"])
        #expect(bn.namedBuffers().map(\.name) == ["running_mean", "running_var", "num_batches_tracked"])
        #expect(!bn.weight.decays && !bn.bias.decays)
        #expect(bn.weight.value.array == [1, 1, 1, 1] && bn.runningVar.array == [1, 1, 1, 1])
    }
}
