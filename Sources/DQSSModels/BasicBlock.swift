// BasicBlock: torchvision's ResNet-18/34 block (expansion 1).
//
//   out = ReLU( bn2(conv2( ReLU(bn1(conv1(x))) )) + identity ),  identity = downsample(x) or x
//
// conv1: 3x3, stride s, pad 1; conv2: 3x3, pad 1 (no biases). downsample = Sequential(conv1x1 stride s,
// BatchNorm) named "downsample.0"/"downsample.1", present when s != 1 or the channel count changes.
// Backward sums the gradients reaching x through the branch and through the identity path.

import DQSSTensor
import DQSSLayers

public final class BasicBlock: UnaryLayer {
    public static let expansion = 1
    public let conv1: Conv2d
    public let bn1: BatchNorm2d
    public let conv2: Conv2d
    public let bn2: BatchNorm2d
    public let downsample: Sequential?
    public var isTraining = false

    private let relu1 = ReLU()
    private let add = Add()
    private let relu2 = ReLU()
    private let gradInput = Tensor(shape: [0])

    public init(inPlanes: Int, planes: Int, stride: Int = 1, rng: inout RNG) {
        conv1 = Conv2d(inPlanes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false, rng: &rng)
        bn1 = BatchNorm2d(planes)
        conv2 = Conv2d(planes, planes, kernelSize: 3, stride: 1, padding: 1, bias: false, rng: &rng)
        bn2 = BatchNorm2d(planes)
        downsample = (stride != 1 || inPlanes != planes)
            ? Sequential([Conv2d(inPlanes, planes, kernelSize: 1, stride: stride, bias: false, rng: &rng),
                          BatchNorm2d(planes)])
            : nil
    }

    public var children: [(name: String, layer: any Layer)] {
        var c: [(name: String, layer: any Layer)] = [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2)]
        if let downsample { c.append(("downsample", downsample)) }
        return c
    }

    public func forward(_ x: Tensor) -> Tensor {
        let h = relu1.forward(bn1.forward(conv1.forward(x)))
        let r = bn2.forward(conv2.forward(h))
        let identity = downsample?.forward(x) ?? x
        return relu2.forward(add.forward(r, identity))
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let (gBranch, gIdentity) = add.backward(relu2.backward(gradOutput))
        let gxBranch = conv1.backward(bn1.backward(relu1.backward(conv2.backward(bn2.backward(gBranch)))))
        gradInput.assign(gxBranch)
        gradInput.add(downsample?.backward(gIdentity) ?? gIdentity)
        return gradInput
    }
}
