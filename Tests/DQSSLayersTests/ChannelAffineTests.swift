import Testing
import DQSSTensor
import DQSSLayers
import _TestSupport

@Suite("ChannelAffine")
struct ChannelAffineTests {
    @Test("subtractMean then addMean is the identity; subtractMean is (x − mean)·range")
    func meanShift() {
        let x = Tensor(shape: [1, 2, 1, 2], values: [0.5, 1, 0.25, 0])
        let sub = ChannelAffine.subtractMean([0.5, 0.25], range: 255)
        let y = sub.forward(x)
        #expect(maxAbsDiff(y.array, [0, 127.5, 0, -63.75]) < 1e-4)
        let back = ChannelAffine.addMean([0.5, 0.25], range: 255).forward(y)
        #expect(maxAbsDiff(back.array, x.array) < 1e-6)
    }

    @Test("gradient matches central differences")
    func gradients() {
        var rng = RNG(seed: 35)
        let x = Tensor.uniform([2, 3, 2, 2], -1, 1, rng: &rng)
        let r = checkGradients(ChannelAffine(scale: [2, -1, 0.5], shift: [1, 2, 3]), input: x)
        #expect(r.maxError < 1e-2, "\(r)")
    }
}
