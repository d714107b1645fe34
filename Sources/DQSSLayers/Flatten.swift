// Flatten: [N, d1, d2, ...] -> [N, d1·d2·...] (PyTorch nn.Flatten / torch.flatten(x, 1)).
// Forward returns a VIEW sharing the input's storage; backward returns a view of the gradient with the
// input's shape. No arithmetic, so both are exact.

import DQSSTensor

public final class Flatten: UnaryLayer {
    public var isTraining = false
    private var inputShape: [Int] = []
    // Views are cached and reused while the underlying storage and shape stay the same.
    private var outputView: Tensor?
    private var gradView: Tensor?

    public init() {}

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank >= 1, "Flatten needs a batch dimension, got \(x.shape)")
        inputShape = x.shape
        let target = [x.shape[0], x.shape[0] == 0 ? 0 : x.count / x.shape[0]]
        if let v = outputView, v.storage === x.storage, v.shape == target { return v }
        let v = x.reshaped(target)
        outputView = v
        return v
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.count == inputShape.reduce(1, *), "Flatten.backward: gradient \(gradOutput.shape) vs input \(inputShape)")
        if let v = gradView, v.storage === gradOutput.storage, v.shape == inputShape { return v }
        let v = gradOutput.reshaped(inputShape)
        gradView = v
        return v
    }
}
