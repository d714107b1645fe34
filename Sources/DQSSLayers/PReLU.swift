// PReLU: y = x for x > 0, y = a · x otherwise, with a learnable slope a (PyTorch nn.PReLU): one slope
// shared by all channels (numParameters = 1) or one per channel (dimension 1 of the input).
// Backward: dx = dy (x > 0) or a · dy;  da_c += Σ_{x ≤ 0 in channel c} dy · x.
// Parameter "weight" [numParameters], init `initial`; no weight decay (PyTorch recommends none).

import DQSSTensor

public final class PReLU: UnaryLayer {
    public let numParameters: Int
    public let weight: Parameter
    public var isTraining = false
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private let input = Tensor(shape: [0])   // copy of x for the slope gradient

    public init(numParameters: Int = 1, initial: Float = 0.25) {
        precondition(numParameters >= 1, "PReLU needs numParameters >= 1")
        self.numParameters = numParameters
        weight = Parameter(Tensor(shape: [numParameters], repeating: initial), decays: false)
    }

    public var parameters: [(name: String, parameter: Parameter)] { [("weight", weight)] }

    /// (rows, channels, inner): x viewed as [N, C, inner]; a single slope treats everything as one channel.
    private func layout(_ shape: [Int]) -> (Int, Int, Int) {
        let count = shape.reduce(1, *)
        if numParameters == 1 { return (1, 1, count) }
        precondition(shape.count >= 2 && shape[1] == numParameters, "PReLU(\(numParameters)) got input \(shape)")
        return (shape[0], shape[1], shape[2...].reduce(1, *))
    }

    public func forward(_ x: Tensor) -> Tensor {
        let (n, c, inner) = layout(x.shape)
        output.resize(to: x.shape)
        input.assign(x)
        let src = x.data, dst = output.data, a = weight.value.data
        parallelFor(n * c, minChunk: 4) { row in
            let slope = a[row % c], p = src + row * inner, q = dst + row * inner
            for j in 0..<inner { let v = p[j]; q[j] = v > 0 ? v : slope * v }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.count == input.count, "PReLU.backward: gradient \(gradOutput.shape) vs input \(input.shape)")
        let (n, c, inner) = layout(input.shape)
        gradInput.resize(to: input.shape)
        let x = input.data, g = gradOutput.data, dx = gradInput.data, a = weight.value.data
        // Per-channel slope gradients are summed over the batch in a fixed order (no races).
        var slopeGrad = [Double](repeating: 0, count: c)
        slopeGrad.withUnsafeMutableBufferPointer { sg in
            let sgp = sg.baseAddress!
            parallelFor(c) { ch in
                let slope = a[ch]
                var acc = 0.0
                for i in 0..<n {
                    let off = (i * c + ch) * inner
                    var part: Float = 0
                    for j in 0..<inner {
                        let v = x[off + j], gv = g[off + j]
                        if v > 0 { dx[off + j] = gv } else { dx[off + j] = slope * gv; part += gv * v }
                    }
                    acc += Double(part)
                }
                sgp[ch] = acc
            }
        }
        if weight.requiresGrad {
            for ch in 0..<c { weight.grad.data[ch] += Float(slopeGrad[ch]) }
        }
        return gradInput
    }
}
