// Linear: y = x̂ Ŵᵀ + b, x [N, in], W [out, in] (PyTorch layout), b [out].
// x̂ = inputHook(x), Ŵ = weightHook(W) (identity when no hook is set; quantizers plug in there).
// Backward: dx̂ = dy Ŵ; dŴ = dyᵀ x̂; db += Σ_n dy; then the hooks map dx̂ -> dx and dŴ -> dW.

import DQSSTensor

public final class Linear: HookableLayer {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?
    public var isTraining = false
    public var inputHook: (any TensorHook)?
    public var weightHook: (any TensorHook)?

    private var input: Tensor?          // x̂ (hooked input) saved for the weight gradient
    private var effectiveWeight: Tensor? // Ŵ saved for the input gradient
    private let hookedWeightGrad = Tensor(shape: [0])
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
        let xh = inputHook?.forward(x) ?? x
        let wh = weightHook?.forward(weight.value) ?? weight.value
        input = xh
        effectiveWeight = wh
        output.resize(to: [n, outFeatures])
        if let bias {
            for i in 0..<n { (output.data + i * outFeatures).update(from: bias.value.data, count: outFeatures) }
        }
        gemm(.none, .transposed, m: n, n: outFeatures, k: inFeatures,
             a: xh.data, lda: inFeatures, b: wh.data, ldb: inFeatures,
             beta: bias == nil ? 0 : 1, c: output.data, ldc: outFeatures)
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let x = input, let wh = effectiveWeight else { preconditionFailure("Linear.backward before forward") }
        let n = gradOutput.count / outFeatures
        if let weightHook {
            // dŴ into a scratch buffer, then the hook maps it to dW (and its own parameter gradients).
            hookedWeightGrad.resize(to: weight.value.shape)
            gemm(.transposed, .none, m: outFeatures, n: inFeatures, k: n,
                 a: gradOutput.data, lda: outFeatures, b: x.data, ldb: inFeatures,
                 beta: 0, c: hookedWeightGrad.data, ldc: inFeatures)
            let dW = weightHook.backward(hookedWeightGrad)
            if weight.requiresGrad { weight.grad.add(dW) }
        } else if weight.requiresGrad {
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
             a: gradOutput.data, lda: outFeatures, b: wh.data, ldb: inFeatures,
             beta: 0, c: gradInput.data, ldc: inFeatures)
        return inputHook?.backward(gradInput) ?? gradInput
    }
}
