// FakeQuantHook: the §1 quantizer with a fixed threshold, plugged into a Conv2d/Linear input or weight
// (TensorHook). Forward x̂ = s·clamp(round(x/s), q_min, q_max); backward is the clipped
// straight-through estimator of §1.2 (gradient passed where |x| ≤ T signed, 0 ≤ x ≤ T unsigned).

import DQSSTensor
import DQSSLayers

public final class FakeQuantHook: TensorHook {
    public var quantizer: UniformQuantizer
    public var threshold: Float
    private var savedInput: Tensor?
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    public init(quantizer: UniformQuantizer, threshold: Float) {
        self.quantizer = quantizer
        self.threshold = threshold
    }

    public func forward(_ x: Tensor) -> Tensor {
        savedInput = x
        quantizer.fakeQuantize(x, threshold: threshold, into: output)
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let x = savedInput else { preconditionFailure("FakeQuantHook.backward before forward") }
        gradInput.resize(to: gradOutput.shape)
        quantizer.steBackward(input: x.data, gradOutput: gradOutput.data, into: gradInput.data,
                              count: gradOutput.count, threshold: threshold)
        return gradInput
    }
}
