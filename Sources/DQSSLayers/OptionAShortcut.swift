// OptionAShortcut: the parameter-free CIFAR ResNet shortcut ("option A", He et al. 2016; akamaster's
// resnet_cifar): y = pad(x[:, :, ::2, ::2]) with (out − in)/2 zero channels before and after.
// Output spatial size is ⌈H/2⌉ × ⌈W/2⌉. Backward picks the middle channels of the gradient and scatters
// them to the even positions; odd positions get zero gradient.

import DQSSTensor

public final class OptionAShortcut: UnaryLayer {
    public let inChannels: Int
    public let outChannels: Int
    public var isTraining = false
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var inputShape: [Int] = []

    public init(inChannels: Int, outChannels: Int) {
        precondition(outChannels >= inChannels && (outChannels - inChannels) % 2 == 0,
                     "OptionAShortcut: \(inChannels) -> \(outChannels) channels needs an even, non-negative difference")
        self.inChannels = inChannels
        self.outChannels = outChannels
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.c == inChannels, "OptionAShortcut(\(inChannels)->\(outChannels)) got input \(x.shape)")
        inputShape = x.shape
        let n = x.n, h = x.h, w = x.w, oh = (h + 1) / 2, ow = (w + 1) / 2
        let pad = (outChannels - inChannels) / 2, cin = inChannels, cout = outChannels
        output.resize(to: [n, cout, oh, ow])
        output.zero()
        let src = x.data, dst = output.data
        parallelFor(n * cin, minChunk: 8) { idx in
            let i = idx / cin, ch = idx % cin
            let p = src + (i * cin + ch) * h * w, q = dst + (i * cout + ch + pad) * oh * ow
            for oy in 0..<oh { for ox in 0..<ow { q[oy * ow + ox] = p[2 * oy * w + 2 * ox] } }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.shape == output.shape, "OptionAShortcut.backward: gradient \(gradOutput.shape) vs output \(output.shape)")
        gradInput.resize(to: inputShape)
        gradInput.zero()
        let n = inputShape[0], h = inputShape[2], w = inputShape[3], oh = output.h, ow = output.w
        let pad = (outChannels - inChannels) / 2, cin = inChannels, cout = outChannels
        let g = gradOutput.data, dx = gradInput.data
        parallelFor(n * cin, minChunk: 8) { idx in
            let i = idx / cin, ch = idx % cin
            let q = g + (i * cout + ch + pad) * oh * ow, d = dx + (i * cin + ch) * h * w
            for oy in 0..<oh { for ox in 0..<ow { d[2 * oy * w + 2 * ox] = q[oy * ow + ox] } }
        }
        return gradInput
    }
}
