// OutputActivation: the buffers and parallel loops of an elementwise activation whose backward needs only
// its saved OUTPUT (ReLU, ReLU6, Sigmoid): y = f(x), dx = dy · f'(x) written as a function of y. The
// output is saved rather than the input because the input's producer may overwrite it after the forward.
// Each layer keeps its own math (in its file) and passes it as the loop body over an index range.

import DQSSTensor

struct OutputActivation {
    let name: String
    /// Elements per parallel chunk (cheap bodies want larger chunks).
    let minChunk: Int
    let output = Tensor(shape: [0])
    let gradInput = Tensor(shape: [0])

    /// y[r] = f(x[r]) for every chunk r.
    func forward(_ x: Tensor, _ body: (_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, Range<Int>) -> Void) -> Tensor {
        output.resize(to: x.shape)
        let src = x.data, dst = output.data
        parallelRanges(x.count, minChunk: minChunk) { r in body(src, dst, r) }
        return output
    }

    /// dx[r] = from the saved y[r] and dy[r], for every chunk r.
    func backward(_ gradOutput: Tensor,
                  _ body: (_ y: UnsafeMutablePointer<Float>, _ dy: UnsafeMutablePointer<Float>, _ dx: UnsafeMutablePointer<Float>, Range<Int>) -> Void) -> Tensor {
        precondition(gradOutput.count == output.count, "\(name).backward: gradient \(gradOutput.shape) vs output \(output.shape)")
        gradInput.resize(to: gradOutput.shape)
        let y = output.data, g = gradOutput.data, dx = gradInput.data
        parallelRanges(gradOutput.count, minChunk: minChunk) { r in body(y, g, dx, r) }
        return gradInput
    }
}
