import Testing
import DQSSTensor
import DQSSLayers
import _TestSupport

private func ramp(_ shape: [Int]) -> Tensor {
    let t = Tensor(shape: shape)
    for i in 0..<t.count { t[i] = Float(i) }
    return t
}

@Suite("Flatten")
struct FlattenTests {
    @Test("forward is [N, rest] with the same values; backward restores the shape")
    func shapes() {
        let f = Flatten()
        let x = ramp([2, 3, 2, 2])
        let y = f.forward(x)
        #expect(y.shape == [2, 12] && y.array == x.array)
        let g = f.backward(ramp([2, 12]))
        #expect(g.shape == [2, 3, 2, 2] && g.array == x.array)
        var rng = RNG(seed: 41)
        let r = checkGradients(Flatten(), input: Tensor.uniform([2, 3, 2, 2], rng: &rng))
        #expect(r.maxError < 1e-2, "\(r)")
    }
}

@Suite("Add, Concat, ChannelSplit")
struct MultiInputTests {
    @Test("Add forward sums; gradients to both inputs match central differences")
    func add() {
        let a = Add()
        #expect(a.forward(Tensor(shape: [2], values: [1, 2]), Tensor(shape: [2], values: [3, -5])).array == [4, -3])
        var rng = RNG(seed: 42)
        let probe = AddProbe(Tensor.uniform([2, 3, 2, 2], rng: &rng))
        let r = checkGradients(probe, input: Tensor.uniform([2, 3, 2, 2], rng: &rng))
        #expect(r.maxError < 1e-2, "\(r)")
    }

    @Test("Concat joins along channels per sample; gradients to all inputs match central differences")
    func concat() {
        let c = Concat()
        let y = c.forward([ramp([2, 1, 1, 2]), Tensor(shape: [2, 2, 1, 2], repeating: -1)])
        #expect(y.shape == [2, 3, 1, 2])
        #expect(y.array == [0, 1, -1, -1, -1, -1, 2, 3, -1, -1, -1, -1])
        var rng = RNG(seed: 43)
        let probe = ConcatProbe([Tensor.uniform([2, 3, 2, 3], rng: &rng), Tensor.uniform([2, 1, 2, 3], rng: &rng)])
        let r = checkGradients(probe, input: Tensor.uniform([2, 2, 2, 3], rng: &rng))
        #expect(r.maxError < 1e-2, "\(r)")
    }

    @Test("ChannelSplit gives the first `at` channels and the rest; backward joins both gradients")
    func split() {
        let s = ChannelSplit(at: 1)
        let (a, b) = s.forward(ramp([2, 3, 1, 1]))
        #expect(a.shape == [2, 1, 1, 1] && a.array == [0, 3])
        #expect(b.shape == [2, 2, 1, 1] && b.array == [1, 2, 4, 5])
        var rng = RNG(seed: 44)
        let r = checkGradients(SplitProbe(at: 2), input: Tensor.uniform([2, 5, 2, 3], rng: &rng))
        #expect(r.maxError < 1e-2, "\(r)")
    }
}

@Suite("ChannelShuffle")
struct ChannelShuffleTests {
    @Test("torchvision order: groups 2 over 6 channels gives 0,3,1,4,2,5")
    func forward() {
        let y = ChannelShuffle(groups: 2).forward(ramp([1, 6, 1, 1]))
        #expect(y.array == [0, 3, 1, 4, 2, 5])
        let z = ChannelShuffle(groups: 3).forward(ramp([1, 6, 1, 1]))
        #expect(z.array == [0, 2, 4, 1, 3, 5])
    }

    @Test("gradient matches central differences")
    func gradients() {
        var rng = RNG(seed: 45)
        let r = checkGradients(ChannelShuffle(groups: 3), input: Tensor.uniform([2, 6, 2, 3], rng: &rng))
        #expect(r.maxError < 1e-2, "\(r)")
    }
}

@Suite("OptionAShortcut")
struct OptionAShortcutTests {
    @Test("subsamples x[:, :, ::2, ::2] and pads (out − in)/2 zero channels on each side")
    func forward() {
        let s = OptionAShortcut(inChannels: 1, outChannels: 3)
        let y = s.forward(ramp([1, 1, 3, 4]))
        #expect(y.shape == [1, 3, 2, 2])
        #expect(y.array == [0, 0, 0, 0, 0, 2, 8, 10, 0, 0, 0, 0])
    }

    @Test("gradient matches central differences (odd and even sizes)")
    func gradients() {
        var rng = RNG(seed: 46)
        let r = checkGradients(OptionAShortcut(inChannels: 2, outChannels: 6), input: Tensor.uniform([2, 2, 5, 4], rng: &rng))
        #expect(r.maxError < 1e-2, "\(r)")
    }
}

/// Dropout whose mask generator is reset before every forward, so finite differences see one fixed mask.
private final class FixedMaskDropout: UnaryLayer {
    var isTraining = true
    let d = Dropout(p: 0.4, seed: 9)
    let start: RNG
    init() { d.isTraining = true; start = d.rng }
    func forward(_ x: Tensor) -> Tensor { d.rng = start; return d.forward(x) }
    func backward(_ g: Tensor) -> Tensor { d.backward(g) }
}

@Suite("Dropout")
struct DropoutTests {
    @Test("eval mode is the identity")
    func eval() {
        let d = Dropout(p: 0.5, seed: 1)
        let x = ramp([2, 3])
        #expect(d.forward(x).array == x.array)
        #expect(d.backward(x).array == x.array)
    }

    @Test("train mode zeroes about p of the values and scales the rest by 1/(1 − p)")
    func train() {
        let d = Dropout(p: 0.25, seed: 2)
        d.isTraining = true
        let y = d.forward(Tensor(shape: [10000], repeating: 1))
        let zeros = y.array.filter { $0 == 0 }.count
        #expect(abs(zeros - 2500) < 200, "\(zeros) zeros")
        #expect(y.array.allSatisfy { $0 == 0 || abs($0 - 4.0 / 3) < 1e-6 })
        let again = Dropout(p: 0.25, seed: 2)
        again.isTraining = true
        #expect(again.forward(Tensor(shape: [10000], repeating: 1)).array == y.array, "same seed, same mask")
    }

    @Test("train-mode gradient (fixed mask) matches central differences")
    func gradients() {
        var rng = RNG(seed: 47)
        let r = checkGradients(FixedMaskDropout(), input: Tensor.uniform([2, 3, 4, 2], rng: &rng))
        #expect(r.maxError < 1e-2, "\(r)")
    }
}

@Suite("PixelShuffle")
struct PixelShuffleTests {
    @Test("PyTorch order: y[c, h·r + i, w·r + j] = x[c·r² + i·r + j, h, w]")
    func forward() {
        let y = PixelShuffle(upscaleFactor: 2).forward(ramp([1, 4, 1, 2]))
        // Channels 0..3 hold [0,1], [2,3], [4,5], [6,7]; output 2x4.
        #expect(y.shape == [1, 1, 2, 4])
        #expect(y.array == [0, 2, 1, 3, 4, 6, 5, 7])
    }

    @Test("gradient matches central differences")
    func gradients() {
        var rng = RNG(seed: 48)
        let r = checkGradients(PixelShuffle(upscaleFactor: 2), input: Tensor.uniform([2, 8, 2, 3], rng: &rng))
        #expect(r.maxError < 1e-2, "\(r)")
    }
}
