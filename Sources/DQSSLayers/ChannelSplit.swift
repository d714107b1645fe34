// ChannelSplit: x -> (x[:, :at], x[:, at:]) along the channel dimension (ShuffleNetV2's x.chunk(2, 1)
// when at = C/2). Both outputs are ChannelSplit-owned copies. Backward joins the two gradients.

import DQSSTensor

public final class ChannelSplit: Layer {
    public let at: Int
    public var isTraining = false
    private let first = Tensor(shape: [0])
    private let second = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var inputShape: [Int] = []

    public init(at: Int) {
        precondition(at > 0, "ChannelSplit(at:) needs at > 0")
        self.at = at
    }

    public func forward(_ x: Tensor) -> (Tensor, Tensor) {
        precondition(x.rank >= 2 && x.shape[1] > at, "ChannelSplit(at: \(at)) got input \(x.shape)")
        inputShape = x.shape
        let n = x.shape[0], c = x.shape[1], inner = x.shape[2...].reduce(1, *)
        var s1 = x.shape, s2 = x.shape
        s1[1] = at; s2[1] = c - at
        first.resize(to: s1); second.resize(to: s2)
        let src = x.data, a = first.data, b = second.data
        let b1 = at * inner, b2 = (c - at) * inner, row = c * inner
        parallelFor(n) { i in
            (a + i * b1).update(from: src + i * row, count: b1)
            (b + i * b2).update(from: src + i * row + b1, count: b2)
        }
        return (first, second)
    }

    public func backward(_ g1: Tensor, _ g2: Tensor) -> Tensor {
        precondition(g1.shape == first.shape && g2.shape == second.shape,
                     "ChannelSplit.backward: gradients \(g1.shape), \(g2.shape) vs outputs \(first.shape), \(second.shape)")
        gradInput.resize(to: inputShape)
        let n = inputShape[0], c = inputShape[1], inner = inputShape[2...].reduce(1, *)
        let b1 = at * inner, b2 = (c - at) * inner, row = c * inner
        let a = g1.data, b = g2.data, dst = gradInput.data
        parallelFor(n) { i in
            (dst + i * row).update(from: a + i * b1, count: b1)
            (dst + i * row + b1).update(from: b + i * b2, count: b2)
        }
        return gradInput
    }
}
