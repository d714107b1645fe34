import Testing
import DQSSTensor
import DQSSLayers
import _TestSupport

@Suite("UpsampleBilinear")
struct UpsampleBilinearTests {
    @Test("x2 of [[0,1],[2,3]] equals PyTorch's align_corners=False result")
    func forward() {
        // Along one axis the taps give [0, 0.25, 0.75, 1]; the input is 2i + j, so y = 2 R[oy] + R[ox].
        let y = UpsampleBilinear(scaleFactor: 2).forward(Tensor(shape: [1, 1, 2, 2], values: [0, 1, 2, 3]))
        let expected: [Float] = [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3]
        #expect(y.shape == [1, 1, 4, 4])
        #expect(maxAbsDiff(y.array, expected) < 1e-6)
    }

    @Test("x4 keeps a constant image constant")
    func constant() {
        let y = UpsampleBilinear(scaleFactor: 4).forward(Tensor(shape: [1, 2, 3, 2], repeating: 0.7))
        #expect(y.shape == [1, 2, 12, 8])
        #expect(y.array.allSatisfy { abs($0 - 0.7) < 1e-6 })
    }

    @Test("gradient matches central differences (x4, non-square)")
    func gradients() {
        var rng = RNG(seed: 34)
        let x = Tensor.uniform([1, 2, 3, 4], -1, 1, rng: &rng)
        let r = checkGradients(UpsampleBilinear(scaleFactor: 4), input: x)
        #expect(r.maxError < 1e-2, "\(r)")
    }
}
