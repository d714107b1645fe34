// Concat: join NCHW (or [N, C, ...]) tensors along the channel dimension (torch.cat(xs, dim=1)).
// Backward slices the output gradient back into one Concat-owned buffer per input.

import DQSSTensor

public final class Concat: Layer {
    public var isTraining = false
    private let output = Tensor(shape: [0])
    private var grads: [Tensor] = []
    private var inputShapes: [[Int]] = []

    public init() {}

    public func forward(_ xs: [Tensor]) -> Tensor {
        precondition(!xs.isEmpty, "Concat needs at least one input")
        let first = xs[0].shape
        precondition(first.count >= 2, "Concat needs [N, C, ...] inputs, got \(first)")
        for x in xs {
            precondition(x.rank == first.count && x.shape[0] == first[0] && Array(x.shape[2...]) == Array(first[2...]),
                         "Concat: input \(x.shape) does not match \(first) outside the channel dimension")
        }
        inputShapes = xs.map(\.shape)
        let n = first[0], inner = first[2...].reduce(1, *)
        let totalC = xs.reduce(0) { $0 + $1.shape[1] }
        var outShape = first
        outShape[1] = totalC
        output.resize(to: outShape)
        let y = output.data
        var cOffset = 0
        for x in xs {
            let block = x.shape[1] * inner, src = x.data, off = cOffset * inner, rowOut = totalC * inner
            parallelFor(n) { i in (y + i * rowOut + off).update(from: src + i * block, count: block) }
            cOffset += x.shape[1]
        }
        return output
    }

    public func backward(_ g: Tensor) -> [Tensor] {
        precondition(g.shape == output.shape, "Concat.backward: gradient \(g.shape) vs output \(output.shape)")
        while grads.count < inputShapes.count { grads.append(Tensor(shape: [0])) }
        let n = g.shape[0], inner = g.shape[2...].reduce(1, *), rowOut = g.shape[1] * inner
        let src = g.data
        var cOffset = 0
        for (k, shape) in inputShapes.enumerated() {
            let gx = grads[k]
            gx.resize(to: shape)
            let block = shape[1] * inner, off = cOffset * inner, dst = gx.data
            parallelFor(n) { i in (dst + i * block).update(from: src + i * rowOut + off, count: block) }
            cOffset += shape[1]
        }
        return Array(grads[0..<inputShapes.count])
    }
}
