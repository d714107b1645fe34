// NaiveMixedConv: the naive DQSS operator of Eq. 7 (ALGORITHMS.md §5.2), for the ablation/benchmark
// (`--mixed-conv naive`) and as the reference the efficient operator is tested against.
//
//     y = Σ_i Σ_j θ^α_i θ^β_j (W_j * A_i) + bias          A_i = Q^A_i(A), W_j = Q^W_j(W)
//
// N² convolutions forward and 2N² backward (every (i, j) branch is a conv of its own, as a network of N²
// parallel quantized convs would run it), with N quantized inputs and weights stored. By bilinearity it
// equals the efficient operator (one conv of Σθ^β_j W_j with Σθ^α_i A_i) up to float summation order.
// Backward, per branch (i, j) with c = θ^α_i θ^β_j and D_ij = convᵀ(G_y, W_j):
//     p_ij = ⟨G_y, W_j * A_i⟩ = ⟨D_ij, A_i⟩    ∂L/∂θ^α_i += θ^β_j p_ij    ∂L/∂θ^β_j += θ^α_i p_ij
//     G_{A_i} += c D_ij     G_{W_j} += c (G_y ⋆ A_i)      dA = Σ_i STE_i ⊙ G_{A_i}   dW = Σ_j STE_j ⊙ G_{W_j}
// The layer uses the wrapped Conv2d's geometry, weight, bias and kernels (its hooks are ignored).

import DQSSTensor
import DQSSLayers

public final class NaiveMixedConv: UnaryLayer {
    public let conv: Conv2d
    public let activationBranches: [QuantizerBranch]
    public let weightBranches: [QuantizerBranch]
    /// α [N_a] and β [N_w], init 0.1.
    public let alpha: Parameter
    public let beta: Parameter
    public var temperature: Double = 1
    public var isTraining = false

    private var input: Tensor?
    private var geometry: ConvGeometry?
    private var thetaA: [Double] = [], thetaW: [Double] = []
    private var quantizedInputs: [Tensor] = []
    private var quantizedWeights: [Tensor] = []
    private var inputGrads: [Tensor] = []
    private var weightGrads: [Tensor] = []
    private let branchOutput = Tensor(shape: [0])
    private let branchInputGrad = Tensor(shape: [0])
    private let branchWeightGrad = Tensor(shape: [0])
    private let steScratch = Tensor(shape: [0])
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    public init(conv: Conv2d, activationBranches: [QuantizerBranch], weightBranches: [QuantizerBranch],
                initialLogit: Float = 0.1) {
        precondition(!activationBranches.isEmpty && !weightBranches.isEmpty, "NaiveMixedConv needs branches on both sides")
        self.conv = conv
        self.activationBranches = activationBranches
        self.weightBranches = weightBranches
        alpha = Parameter(Tensor(shape: [activationBranches.count], repeating: initialLogit), decays: false)
        beta = Parameter(Tensor(shape: [weightBranches.count], repeating: initialLogit), decays: false)
        quantizedInputs = activationBranches.map { _ in Tensor(shape: [0]) }
        inputGrads = activationBranches.map { _ in Tensor(shape: [0]) }
        quantizedWeights = weightBranches.map { _ in Tensor(shape: [0]) }
        weightGrads = weightBranches.map { _ in Tensor(shape: [0]) }
    }

    /// alpha, beta, and the wrapped conv's weight and bias (shared, not copies).
    public var parameters: [(name: String, parameter: Parameter)] {
        var p: [(name: String, parameter: Parameter)] = [("alpha", alpha), ("beta", beta), ("weight", conv.weight)]
        if let b = conv.bias { p.append(("bias", b)) }
        return p
    }

    private func softmax(_ p: Parameter) -> [Double] {
        ArchitectureSoftmax.probabilities((0..<p.value.count).map { Double(p.value.data[$0]) }, temperature: temperature)
    }

    public func forward(_ x: Tensor) -> Tensor {
        let g = conv.geometry(for: x.shape)
        if let e = g.validationError { preconditionFailure("NaiveMixedConv: \(e)") }
        input = x
        geometry = g
        thetaA = softmax(alpha)
        thetaW = softmax(beta)
        for (b, q) in zip(activationBranches, quantizedInputs) { b.quantizer.fakeQuantize(x, threshold: b.threshold, into: q) }
        for (b, q) in zip(weightBranches, quantizedWeights) {
            b.quantizer.fakeQuantize(conv.weight.value, threshold: b.threshold, into: q)
        }
        output.resize(to: g.outputShape)
        branchOutput.resize(to: g.outputShape)
        let n = g.outputCount, y = output.data, t = branchOutput.data
        var first = true
        for (i, a) in quantizedInputs.enumerated() {
            for (j, w) in quantizedWeights.enumerated() {
                Conv2dKernel.forward(g, input: a.data, weight: w.data, bias: nil, output: t, workspace: conv.workspace)
                let c = Float(thetaA[i] * thetaW[j])
                if first {
                    parallelRanges(n, minChunk: 1 << 15) { r in for e in r { y[e] = c * t[e] } }
                } else {
                    parallelRanges(n, minChunk: 1 << 15) { r in for e in r { y[e] += c * t[e] } }
                }
                first = false
            }
        }
        if let bias = conv.bias {
            let S = g.outSpatial, C = g.outChannels, bp = bias.value.data
            parallelFor(g.batch * C) { p in
                let o = p % C, v = bp[o], base = y + p * S
                for e in 0..<S { base[e] += v }
            }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let x = input, let g = geometry else { preconditionFailure("NaiveMixedConv.backward before forward") }
        let ws = conv.workspace
        branchInputGrad.resize(to: x.shape)
        branchWeightGrad.resize(to: conv.weight.value.shape)
        for t in inputGrads { t.resize(to: x.shape); t.zero() }
        for t in weightGrads { t.resize(to: conv.weight.value.shape); t.zero() }
        var dThetaA = [Double](repeating: 0, count: thetaA.count)
        var dThetaW = [Double](repeating: 0, count: thetaW.count)
        let wantW = conv.weight.requiresGrad
        for (i, a) in quantizedInputs.enumerated() {
            for (j, w) in quantizedWeights.enumerated() {
                let c = Float(thetaA[i] * thetaW[j])
                Conv2dKernel.backwardData(g, gradOutput: gradOutput.data, weight: w.data,
                                          gradInput: branchInputGrad.data, workspace: ws)
                let p = branchInputGrad.dot(a)
                dThetaA[i] += thetaW[j] * p
                dThetaW[j] += thetaA[i] * p
                inputGrads[i].add(branchInputGrad, scale: c)
                if wantW {
                    Conv2dKernel.backwardWeight(g, gradOutput: gradOutput.data, input: a.data,
                                                gradWeight: branchWeightGrad.data, accumulate: false, workspace: ws)
                    weightGrads[j].add(branchWeightGrad, scale: c)
                }
            }
        }
        if let bias = conv.bias, bias.requiresGrad {
            Conv2dKernel.biasGradient(g, gradOutput: gradOutput.data, gradBias: bias.grad.data, accumulate: true)
        }
        if alpha.requiresGrad {
            let d = ArchitectureSoftmax.logitGradient(theta: thetaA, thetaGradient: dThetaA, temperature: temperature)
            for k in d.indices { alpha.grad.data[k] += Float(d[k]) }
        }
        if beta.requiresGrad {
            let d = ArchitectureSoftmax.logitGradient(theta: thetaW, thetaGradient: dThetaW, temperature: temperature)
            for k in d.indices { beta.grad.data[k] += Float(d[k]) }
        }
        if wantW {
            steScratch.resize(to: conv.weight.value.shape)
            for (b, gw) in zip(weightBranches, weightGrads) {
                b.quantizer.steBackward(input: conv.weight.value.data, gradOutput: gw.data, into: steScratch.data,
                                        count: gw.count, threshold: b.threshold)
                conv.weight.grad.add(steScratch)
            }
        }
        gradInput.resize(to: x.shape)
        gradInput.zero()
        steScratch.resize(to: x.shape)
        for (b, ga) in zip(activationBranches, inputGrads) {
            b.quantizer.steBackward(input: x.data, gradOutput: ga.data, into: steScratch.data,
                                    count: ga.count, threshold: b.threshold)
            gradInput.add(steScratch)
        }
        return gradInput
    }
}
