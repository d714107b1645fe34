// SequentialModel: a model whose forward is a chain of named stages (stem, stages, pool, classifier).
//
// The zoo's networks are torchvision/akamaster modules whose `forward` runs their children in order;
// holding them in one named `Sequential` gives PyTorch's state_dict names ("layer1.0.conv1.weight") and a
// backward (reverse order) for free. Stages without parameters (ReLU, pooling) are children too; they add
// nothing to the state_dict, so names still match PyTorch's exactly.
//
// A user-defined model is a short Swift file that composes layers (see Tests/DQSSModelsTests/
// UserModelTests.swift, which loads a state_dict into one):
//
//     final class TinyNet: SequentialModel {
//         let body: Sequential
//         var isTraining = false
//         init(rng: inout RNG) {
//             body = Sequential(named: [
//                 ("conv1", Conv2d(3, 8, kernelSize: 3, padding: 1, bias: false, rng: &rng)),
//                 ("bn1", BatchNorm2d(8)), ("relu", ReLU()),
//                 ("block", CIFARBasicBlock(inPlanes: 8, planes: 16, stride: 2, rng: &rng)),
//                 ("pool", GlobalAvgPool2d()), ("flatten", Flatten()),
//                 ("fc", Linear(16, 10, rng: &rng)),
//             ])
//         }
//     }
//     try loadWeights(into: TinyNet(rng: &rng), from: url)   // names conv1.weight, bn1.*, block.conv1.weight, fc.*
//
// A block whose forward is not a chain (two inputs, a residual) is a UnaryLayer of its own with
// forward/backward side by side; see CIFARBasicBlock.swift.

import DQSSTensor
import DQSSLayers

/// A network whose children are the children of `body`, run in order.
public protocol SequentialModel: UnaryLayer, BackwardObservable {
    /// The named stages, in forward order.
    var body: Sequential { get }
}

extension SequentialModel {
    public var children: [(name: String, layer: any Layer)] { body.children }

    /// Images [N, C, H, W] -> logits [N, classes].
    public func forward(_ x: Tensor) -> Tensor { body.forward(x) }

    /// The body's observer (the body is not among the model's children: its children are).
    public var backwardObserver: (any BackwardObserver)? {
        get { body.backwardObserver }
        set { body.backwardObserver = newValue }
    }

    /// dL/dlogits -> dL/dimages; accumulates every parameter gradient.
    public func backward(_ gradOutput: Tensor) -> Tensor { body.backward(gradOutput) }
}
