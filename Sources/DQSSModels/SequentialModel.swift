// SequentialModel: a model whose forward is a chain of named stages (stem, stages, pool, classifier).
//
// The zoo's networks are torchvision/akamaster modules whose `forward` runs their children in order;
// holding them in one named `Sequential` gives PyTorch's state_dict names ("layer1.0.conv1.weight") and a
// backward (reverse order) for free. Stages without parameters (ReLU, pooling) are children too; they add
// nothing to the state_dict, so names still match PyTorch's exactly.

import DQSSTensor
import DQSSLayers

/// A network whose children are the children of `body`, run in order.
public protocol SequentialModel: UnaryLayer {
    /// The named stages, in forward order.
    var body: Sequential { get }
}

extension SequentialModel {
    public var children: [(name: String, layer: any Layer)] { body.children }

    /// Images [N, C, H, W] -> logits [N, classes].
    public func forward(_ x: Tensor) -> Tensor { body.forward(x) }

    /// dL/dlogits -> dL/dimages; accumulates every parameter gradient.
    public func backward(_ gradOutput: Tensor) -> Tensor { body.backward(gradOutput) }
}
