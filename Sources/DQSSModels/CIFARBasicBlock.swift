// CIFARBasicBlock: the residual block of He et al.'s CIFAR ResNets with option-A shortcuts
// (akamaster/pytorch_resnet_cifar10 `BasicBlock`).
//
//   out = ReLU( bn2(conv2( ReLU(bn1(conv1(x))) )) + shortcut(x) )
//
// conv1: 3x3, stride s, pad 1, no bias; conv2: 3x3, stride 1, pad 1, no bias. The shortcut is the
// identity when s = 1 and the channel counts agree, else option A: x[:, :, ::2, ::2] zero-padded by
// planes/4 channels on each side (parameter-free). Parameter names: conv1.weight, bn1.*, conv2.weight,
// bn2.* (as in PyTorch). Backward: x feeds both the residual branch and the shortcut, so
// dL/dx = dL/dx|branch + dL/dx|shortcut.

import DQSSTensor
import DQSSLayers

public final class CIFARBasicBlock: UnaryLayer {
    public let conv1: Conv2d
    public let bn1: BatchNorm2d
    public let conv2: Conv2d
    public let bn2: BatchNorm2d
    /// nil means identity.
    public let shortcut: OptionAShortcut?
    public var isTraining = false

    private let relu1 = ReLU()
    private let add = Add()
    private let relu2 = ReLU()
    private let gradInput = Tensor(shape: [0])

    public init(inPlanes: Int, planes: Int, stride: Int, rng: inout RNG) {
        conv1 = Conv2d(inPlanes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false, rng: &rng)
        bn1 = BatchNorm2d(planes)
        conv2 = Conv2d(planes, planes, kernelSize: 3, stride: 1, padding: 1, bias: false, rng: &rng)
        bn2 = BatchNorm2d(planes)
        precondition(stride == 1 || stride == 2, "CIFARBasicBlock stride must be 1 or 2")
        shortcut = (stride != 1 || inPlanes != planes) ? OptionAShortcut(inChannels: inPlanes, outChannels: planes) : nil
    }

    public var children: [(name: String, layer: any Layer)] {
        var c: [(name: String, layer: any Layer)] = [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2)]
        if let shortcut { c.append(("shortcut", shortcut)) }
        return c
    }

    public func forward(_ x: Tensor) -> Tensor {
        let h = relu1.forward(bn1.forward(conv1.forward(x)))
        let r = bn2.forward(conv2.forward(h))
        let s = shortcut?.forward(x) ?? x
        return relu2.forward(add.forward(r, s))
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let (gBranch, gShortcut) = add.backward(relu2.backward(gradOutput))
        let gxBranch = conv1.backward(bn1.backward(relu1.backward(conv2.backward(bn2.backward(gBranch)))))
        gradInput.assign(gxBranch)
        gradInput.add(shortcut?.backward(gShortcut) ?? gShortcut)
        return gradInput
    }
}
