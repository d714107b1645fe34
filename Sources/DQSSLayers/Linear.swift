// Linear: y = x Wᵀ + b, x [N, in], W [out, in] (PyTorch layout), b [out].
// Backward: dx = dy W; dW += dyᵀ x; db += Σ_n dy.

import DQSSTensor

public final class Linear: UnaryLayer {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?
    public var isTraining = false

    private var input: Tensor?
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    /// Weights initialised like PyTorch (uniform ±1/sqrt(in)) from `rng`.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout RNG) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = Parameter(Tensor.uniform([outFeatures, inFeatures], -bound, bound, rng: &rng))
        self.bias = bias ? Parameter(Tensor.uniform([outFeatures], -bound, bound, rng: &rng), decays: false) : nil
    }

    public var parameters: [(name: String, parameter: Parameter)] {
        var p: [(name: String, parameter: Parameter)] = [("weight", weight)]
        if let bias { p.append(("bias", bias)) }
        return p
    }

    public func forward(_ x: Tensor) -> Tensor {
        let n = x.count / inFeatures
        precondition(x.count == n * inFeatures, "Linear(\(inFeatures)->\(outFeatures)) got input \(x.shape)")
        input = x
        output.resize(to: [n, outFeatures])
        if let bias {
            for i in 0..<n { (output.data + i * outFeatures).update(from: bias.value.data, count: outFeatures) }
        }
        gemm(.none, .transposed, m: n, n: outFeatures, k: inFeatures,
             a: x.data, lda: inFeatures, b: weight.value.data, ldb: inFeatures,
             beta: bias == nil ? 0 : 1, c: output.data, ldc: outFeatures)
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Linear.backward before forward") }
        let n = gradOutput.count / outFeatures
        if weight.requiresGrad {
            gemm(.transposed, .none, m: outFeatures, n: inFeatures, k: n,
                 a: gradOutput.data, lda: outFeatures, b: x.data, ldb: inFeatures,
                 beta: 1, c: weight.grad.data, ldc: inFeatures)
        }
        if let bias, bias.requiresGrad {
            let db = bias.grad.data
            for i in 0..<n {
                let g = gradOutput.data + i * outFeatures
                for o in 0..<outFeatures { db[o] += g[o] }
            }
        }
        gradInput.resize(to: x.shape)
        gemm(.none, .none, m: n, n: inFeatures, k: outFeatures,
             a: gradOutput.data, lda: outFeatures, b: weight.value.data, ldb: inFeatures,
             beta: 0, c: gradInput.data, ldc: inFeatures)
        return gradInput
    }
}
