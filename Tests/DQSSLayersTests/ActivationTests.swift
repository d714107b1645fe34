import Testing
import DQSSTensor
import DQSSLayers
import _TestSupport

@Suite("ReLU6")
struct ReLU6Tests {
    @Test("forward clips to [0, 6]")
    func forward() {
        let y = ReLU6().forward(Tensor(shape: [1, 5], values: [-2, 0.5, 3, 6.5, 10]))
        #expect(y.array == [0, 0.5, 3, 6, 6])
    }

    @Test("gradient matches central differences away from the kinks")
    func gradients() {
        // Values in bands around (not at) 0 and 6, so ε = 1e-2 never crosses a kink.
        var rng = RNG(seed: 21)
        let x = Tensor(shape: [2, 3, 2, 5])
        let centres: [Float] = [-1, 1, 3, 5, 7]
        for i in 0..<x.count { x[i] = centres[i % 5] + rng.uniform(-0.5, 0.5) }
        let r = checkGradients(ReLU6(), input: x)
        #expect(r.maxError < 1e-2, "\(r)")
    }
}

@Suite("LeakyReLU")
struct LeakyReLUTests {
    @Test("forward scales negatives by the slope")
    func forward() {
        let y = LeakyReLU(negativeSlope: 0.1).forward(Tensor(shape: [4], values: [-2, -0.5, 0, 3]))
        #expect(maxAbsDiff(y.array, [-0.2, -0.05, 0, 3]) < 1e-7)
    }

    @Test("gradient matches central differences away from 0")
    func gradients() {
        var rng = RNG(seed: 22)
        let x = Tensor(shape: [2, 3, 3, 2])
        for i in 0..<x.count { x[i] = (i % 2 == 0 ? 1 : -1) * rng.uniform(0.1, 2) }
        let r = checkGradients(LeakyReLU(negativeSlope: 0.2), input: x)
        #expect(r.maxError < 1e-2, "\(r)")
    }
}

@Suite("PReLU")
struct PReLUTests {
    @Test("forward uses the per-channel slope")
    func forward() {
        let p = PReLU(numParameters: 2)
        p.weight.value.set([0.5, -1])
        let y = p.forward(Tensor(shape: [1, 2, 1, 2], values: [-2, 3, -4, 1]))
        #expect(y.array == [-1, 3, 4, 1])
        #expect(p.namedParameters().map(\.name) == ["weight"] && PReLU().weight.value.array == [0.25])
    }

    @Test("input and slope gradients match central differences (shared and per-channel)")
    func gradients() {
        for channels in [1, 3] {
            var rng = RNG(seed: 23)
            let p = PReLU(numParameters: channels)
            for i in 0..<channels { p.weight.value[i] = 0.1 + 0.2 * Float(i) }
            let x = Tensor(shape: [2, 3, 2, 3])
            for i in 0..<x.count { x[i] = (i % 3 == 0 ? 1 : -1) * rng.uniform(0.1, 2) }
            let r = checkGradients(p, input: x)
            #expect(r.maxError < 1e-2, "channels \(channels): \(r)")
        }
    }
}
