// LeakyReLU: y = x for x > 0, y = negativeSlope · x otherwise (PyTorch). Backward: dx = dy or
// negativeSlope · dy by the sign of the saved input (x = 0 takes the negative branch, as PyTorch).

import DQSSTensor

public final class LeakyReLU: UnaryLayer {
    public let negativeSlope: Float
    public var isTraining = false
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private let positive = Tensor(shape: [0])   // 1 where x > 0, else 0 (the input may change later)

    public init(negativeSlope: Float = 0.01) { self.negativeSlope = negativeSlope }

    public func forward(_ x: Tensor) -> Tensor {
        output.resize(to: x.shape)
        positive.resize(to: x.shape)
        let src = x.data, dst = output.data, pos = positive.data, a = negativeSlope
        parallelRanges(x.count, minChunk: 1 << 15) { r in
            for i in r {
                let v = src[i]
                pos[i] = v > 0 ? 1 : 0
                dst[i] = v > 0 ? v : a * v
            }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.count == positive.count, "LeakyReLU.backward: gradient \(gradOutput.shape) vs forward \(positive.shape)")
        gradInput.resize(to: gradOutput.shape)
        let g = gradOutput.data, dx = gradInput.data, pos = positive.data, a = negativeSlope
        parallelRanges(gradOutput.count, minChunk: 1 << 15) { r in
            for i in r { dx[i] = pos[i] != 0 ? g[i] : a * g[i] }
        }
        return gradInput
    }
}
