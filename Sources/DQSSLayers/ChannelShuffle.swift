// ChannelShuffle (ShuffleNet; torchvision's channel_shuffle): view [N, g, C/g, H, W], transpose the two
// group axes, flatten back. Output channel k·g + i comes from input channel i·(C/g) + k.
// Backward applies the inverse permutation to the gradient.

import DQSSTensor

public final class ChannelShuffle: UnaryLayer {
    public let groups: Int
    public var isTraining = false
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    public init(groups: Int) {
        precondition(groups > 0, "ChannelShuffle needs groups > 0")
        self.groups = groups
    }

    /// Copies channel planes: dst channel k·g + i <- src channel i·(C/g) + k (or the reverse).
    private func permute(_ src: Tensor, into dst: Tensor, inverse: Bool) {
        let n = src.shape[0], c = src.shape[1], inner = src.shape[2...].reduce(1, *)
        let g = groups, perGroup = c / g
        let s = src.data, d = dst.data
        parallelFor(n * c, minChunk: 8) { idx in
            let i = idx / c, out = idx % c
            let k = out / g, grp = out % g
            let from = grp * perGroup + k
            if inverse {
                (d + (i * c + from) * inner).update(from: s + (i * c + out) * inner, count: inner)
            } else {
                (d + (i * c + out) * inner).update(from: s + (i * c + from) * inner, count: inner)
            }
        }
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank >= 2 && x.shape[1] % groups == 0, "ChannelShuffle(groups: \(groups)) got input \(x.shape)")
        output.resize(to: x.shape)
        permute(x, into: output, inverse: false)
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.shape == output.shape, "ChannelShuffle.backward: gradient \(gradOutput.shape) vs output \(output.shape)")
        gradInput.resize(to: gradOutput.shape)
        permute(gradOutput, into: gradInput, inverse: true)
        return gradInput
    }
}
