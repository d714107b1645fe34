// Conv2d: y = conv(x̂, Ŵ) + b, x NCHW, W OIHW [out, in/groups, k, k] (PyTorch layout and names), b [out].
// x̂ = inputHook(x), Ŵ = weightHook(W) (identity when no hook is set): ONE convolution of the hooked
// weight with the hooked input (Eq. 10 when the hooks are DQSS mixtures).
// Backward: dx̂ = convᵀ(dy, Ŵ), dŴ = dy ⋆ x̂, db += Σ dy; the hooks map dx̂ -> dx and dŴ -> dW.
// Kernels: DQSSTensor.Conv2dKernel (im2col + GEMM, depthwise and 1×1 paths), scratch reused across steps.

import DQSSTensor

public final class Conv2d: HookableLayer {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let groups: Int
    public let weight: Parameter
    public let bias: Parameter?
    public var isTraining = false
    public var inputHook: (any TensorHook)?
    public var weightHook: (any TensorHook)?
    /// False skips dL/dx (e.g. the first conv of a network, whose input is data). `backward` then returns
    /// a zero tensor of the input's shape. dL/dx̂ is still computed when an input hook is set, because the
    /// hook's own parameters may need it.
    public var needsInputGradient = true

    /// Scratch of the fast kernels (im2col, chunk buffers), reused step after step. Layers that never
    /// run concurrently may share one workspace (a network's convs run one after another) to save memory.
    public var workspace = Conv2dWorkspace()
    private var input: Tensor?           // x̂ saved for the weight gradient
    private var effectiveWeight: Tensor? // Ŵ saved for the input gradient
    private var geometry: ConvGeometry?
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private let hookedWeightGrad = Tensor(shape: [0])

    /// Weights and bias initialised like PyTorch's Conv2d (kaiming_uniform with a = √5, which is
    /// uniform ±1/√fan_in with fan_in = in/groups·k·k; the bias uses the same bound).
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                groups: Int = 1, bias: Bool = true, rng: inout RNG) {
        precondition(groups >= 1 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d: groups \(groups) must divide in \(inChannels) and out \(outChannels)")
        precondition(kernelSize >= 1 && stride >= 1 && padding >= 0, "Conv2d: bad kernel/stride/padding")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.groups = groups
        let fanIn = inChannels / groups * kernelSize * kernelSize
        let bound = 1 / Float(fanIn).squareRoot()
        weight = Parameter(Tensor.uniform([outChannels, inChannels / groups, kernelSize, kernelSize],
                                          -bound, bound, rng: &rng))
        self.bias = bias ? Parameter(Tensor.uniform([outChannels], -bound, bound, rng: &rng), decays: false) : nil
    }

    public var parameters: [(name: String, parameter: Parameter)] {
        var p: [(name: String, parameter: Parameter)] = [("weight", weight)]
        if let bias { p.append(("bias", bias)) }
        return p
    }

    /// The geometry this layer uses for an NCHW input of the given shape.
    public func geometry(for shape: [Int]) -> ConvGeometry {
        ConvGeometry(batch: shape[0], inChannels: inChannels, inH: shape[2], inW: shape[3],
                     outChannels: outChannels, kernel: kernelSize, stride: stride, padding: padding, groups: groups)
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == inChannels,
                     "Conv2d(\(inChannels)->\(outChannels)) expects NCHW input with \(inChannels) channels, got \(x.shape)")
        let g = geometry(for: x.shape)
        if let e = g.validationError { preconditionFailure("Conv2d: \(e)") }
        let xh = inputHook?.forward(x) ?? x
        let wh = weightHook?.forward(weight.value) ?? weight.value
        input = xh
        effectiveWeight = wh
        geometry = g
        output.resize(to: g.outputShape)
        Conv2dKernel.forward(g, input: xh.data, weight: wh.data, bias: bias.map { UnsafePointer($0.value.data) },
                             output: output.data, workspace: workspace)
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let x = input, let wh = effectiveWeight, let g = geometry else {
            preconditionFailure("Conv2d.backward before forward")
        }
        precondition(gradOutput.count == g.outputCount, "Conv2d.backward: gradOutput \(gradOutput.shape) vs \(g.outputShape)")
        let wantInput = needsInputGradient || inputHook != nil
        if wantInput { gradInput.resize(to: x.shape) }
        // dŴ goes straight into weight.grad (accumulating) unless a hook must see it first.
        var dW: UnsafeMutablePointer<Float>? = nil
        if weightHook != nil {
            hookedWeightGrad.resize(to: weight.value.shape)
            dW = hookedWeightGrad.data
        } else if weight.requiresGrad {
            dW = weight.grad.data
        }
        if let bias, bias.requiresGrad {
            Conv2dKernel.biasGradient(g, gradOutput: gradOutput.data, gradBias: bias.grad.data, accumulate: true)
        }
        Conv2dKernel.backward(g, gradOutput: gradOutput.data, input: x.data, weight: wh.data,
                              gradInput: wantInput ? gradInput.data : nil, gradWeight: dW,
                              accumulate: weightHook == nil, workspace: workspace)
        if let weightHook {
            let dWfromHook = weightHook.backward(hookedWeightGrad)
            if weight.requiresGrad { weight.grad.add(dWfromHook) }
        }
        if !wantInput {
            gradInput.resize(to: x.shape)
            gradInput.zero()
            return gradInput
        }
        guard let inputHook else { return gradInput }
        let dx = inputHook.backward(gradInput)
        if needsInputGradient { return dx }
        gradInput.zero()
        return gradInput
    }
}
