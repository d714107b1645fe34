// Bottleneck: torchvision's ResNet-50/101/152 block (expansion 4, "ResNet v1.5": stride on the 3x3).
//
//   out = ReLU( bn3(conv3( ReLU(bn2(conv2( ReLU(bn1(conv1(x))) ))) )) + identity )
//
// conv1: 1x1 inPlanes -> width; conv2: 3x3 stride s pad 1, width -> width; conv3: 1x1 width -> 4 planes
// (width = planes for groups 1, base width 64; no biases). downsample = Sequential(conv1x1 stride s,
// BatchNorm) when s != 1 or inPlanes != 4 planes. Backward sums the branch and identity gradients of x.

import DQSSTensor
import DQSSLayers

public final class Bottleneck: UnaryLayer {
    public static let expansion = 4
    public let conv1: Conv2d
    public let bn1: BatchNorm2d
    public let conv2: Conv2d
    public let bn2: BatchNorm2d
    public let conv3: Conv2d
    public let bn3: BatchNorm2d
    public let downsample: Sequential?
    public var isTraining = false

    private let relu1 = ReLU()
    private let relu2 = ReLU()
    private let add = Add()
    private let relu3 = ReLU()
    private let gradInput = Tensor(shape: [0])

    public init(inPlanes: Int, planes: Int, stride: Int = 1, rng: inout RNG) {
        let width = planes
        let outPlanes = planes * Self.expansion
        conv1 = Conv2d(inPlanes, width, kernelSize: 1, bias: false, rng: &rng)
        bn1 = BatchNorm2d(width)
        conv2 = Conv2d(width, width, kernelSize: 3, stride: stride, padding: 1, bias: false, rng: &rng)
        bn2 = BatchNorm2d(width)
        conv3 = Conv2d(width, outPlanes, kernelSize: 1, bias: false, rng: &rng)
        bn3 = BatchNorm2d(outPlanes)
        downsample = (stride != 1 || inPlanes != outPlanes)
            ? Sequential([Conv2d(inPlanes, outPlanes, kernelSize: 1, stride: stride, bias: false, rng: &rng),
                          BatchNorm2d(outPlanes)])
            : nil
    }

    public var children: [(name: String, layer: any Layer)] {
        var c: [(name: String, layer: any Layer)] = [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2),
                                                     ("conv3", conv3), ("bn3", bn3)]
        if let downsample { c.append(("downsample", downsample)) }
        return c
    }

    public func forward(_ x: Tensor) -> Tensor {
        let h1 = relu1.forward(bn1.forward(conv1.forward(x)))
        let h2 = relu2.forward(bn2.forward(conv2.forward(h1)))
        let r = bn3.forward(conv3.forward(h2))
        let identity = downsample?.forward(x) ?? x
        return relu3.forward(add.forward(r, identity))
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let (gBranch, gIdentity) = add.backward(relu3.backward(gradOutput))
        let g2 = relu2.backward(conv3.backward(bn3.backward(gBranch)))
        let gxBranch = conv1.backward(bn1.backward(relu1.backward(conv2.backward(bn2.backward(g2)))))
        gradInput.assign(gxBranch)
        gradInput.add(downsample?.backward(gIdentity) ?? gIdentity)
        return gradInput
    }
}
