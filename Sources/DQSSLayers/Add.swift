// Add: the residual sum y = a + b (same shapes). Not a UnaryLayer: it has two inputs.
// Backward: dL/da = dL/db = dy, returned as two Add-owned copies so that callers may modify either.

import DQSSTensor

public final class Add: Layer {
    public var isTraining = false
    private let output = Tensor(shape: [0])
    private let gradA = Tensor(shape: [0])
    private let gradB = Tensor(shape: [0])

    public init() {}

    public func forward(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "Add: shapes \(a.shape) and \(b.shape) differ")
        output.resize(to: a.shape)
        let pa = a.data, pb = b.data, y = output.data
        parallelRanges(a.count, minChunk: 1 << 15) { r in
            for i in r { y[i] = pa[i] + pb[i] }
        }
        return output
    }

    public func backward(_ g: Tensor) -> (Tensor, Tensor) {
        gradA.assign(g)
        gradB.assign(g)
        return (gradA, gradB)
    }
}
