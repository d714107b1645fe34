// Sigmoid: y = 1 / (1 + e^(−x)) (PyTorch nn.Sigmoid). Backward: dx = dy · y · (1 − y), from the saved
// output (the input may be overwritten by its producer after the forward).

import Foundation
import DQSSTensor

public final class Sigmoid: UnaryLayer {
    public var isTraining = false
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    public init() {}

    public func forward(_ x: Tensor) -> Tensor {
        output.resize(to: x.shape)
        let src = x.data, dst = output.data
        parallelRanges(x.count, minChunk: 1 << 14) { r in
            for i in r { dst[i] = 1 / (1 + Foundation.exp(-src[i])) }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.count == output.count, "Sigmoid.backward: gradient \(gradOutput.shape) vs output \(output.shape)")
        gradInput.resize(to: gradOutput.shape)
        let g = gradOutput.data, y = output.data, dx = gradInput.data
        parallelRanges(gradOutput.count, minChunk: 1 << 14) { r in
            for i in r { dx[i] = g[i] * y[i] * (1 - y[i]) }
        }
        return gradInput
    }
}
