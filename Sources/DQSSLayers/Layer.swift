// The layer contract shared by every op in dqss.
//
// - `forward` computes the output and, in training or when a backward will follow, saves what the
//   backward needs (a reference to its input, masks, statistics). Layers own their output buffers and
//   reuse them step after step; an output is valid until the layer's next forward.
// - `backward(gradOutput)` consumes exactly that saved state, ACCUMULATES (+=) into the parameters'
//   `grad` tensors (call `zeroGradients()` between steps), and returns the gradient with respect to the
//   input (a buffer owned by the layer).
// - Names follow PyTorch's state_dict: a layer lists its children and its own parameters/buffers by
//   local name; `namedParameters()` joins them with dots ("layer1.0.conv1.weight").

import DQSSTensor

/// A learnable tensor with its gradient (same shape, accumulated by backward passes).
public final class Parameter: @unchecked Sendable {
    public let value: Tensor
    public let grad: Tensor
    /// False for frozen parameters (PTQ): backward passes skip their gradient.
    public var requiresGrad: Bool = true
    /// Whether an optimizer's weight decay applies (conv/linear weights yes, biases and BN no).
    public var decays: Bool

    public init(_ value: Tensor, decays: Bool = true) {
        self.value = value
        self.grad = Tensor(shape: value.shape)
        self.decays = decays
    }
}

public protocol Layer: AnyObject {
    /// Named sub-layers, in registration order (PyTorch module order).
    var children: [(name: String, layer: any Layer)] { get }
    /// This layer's own learnable parameters by local name.
    var parameters: [(name: String, parameter: Parameter)] { get }
    /// This layer's own non-learnable state carried by a state_dict (BN running statistics).
    var buffers: [(name: String, tensor: Tensor)] { get }
    /// Training mode (BN batch statistics, dropout active) vs evaluation mode.
    var isTraining: Bool { get set }
}

/// A layer with one input and one output.
public protocol UnaryLayer: Layer {
    func forward(_ x: Tensor) -> Tensor
    func backward(_ gradOutput: Tensor) -> Tensor
}

extension Layer {
    public var children: [(name: String, layer: any Layer)] { [] }
    public var parameters: [(name: String, parameter: Parameter)] { [] }
    public var buffers: [(name: String, tensor: Tensor)] { [] }

    /// Every parameter of this layer and its descendants, with dotted PyTorch names.
    public func namedParameters(prefix: String = "") -> [(name: String, parameter: Parameter)] {
        var out = parameters.map { (name: prefix + $0.name, parameter: $0.parameter) }
        for child in children {
            out += child.layer.namedParameters(prefix: prefix + child.name + ".")
        }
        return out
    }

    /// Every buffer of this layer and its descendants, with dotted PyTorch names.
    public func namedBuffers(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        var out = buffers.map { (name: prefix + $0.name, tensor: $0.tensor) }
        for child in children {
            out += child.layer.namedBuffers(prefix: prefix + child.name + ".")
        }
        return out
    }

    /// Every layer in the tree (self first, depth-first, registration order), with dotted names.
    public func namedLayers(prefix: String = "") -> [(name: String, layer: any Layer)] {
        var out: [(name: String, layer: any Layer)] = [(name: prefix.isEmpty ? "" : String(prefix.dropLast()), layer: self)]
        for child in children {
            out += child.layer.namedLayers(prefix: prefix + child.name + ".")
        }
        return out
    }

    /// Switch this layer and all descendants to training (true) or evaluation (false) mode.
    public func setTraining(_ on: Bool) {
        isTraining = on
        for child in children { child.layer.setTraining(on) }
    }

    /// Set every parameter gradient in the tree to zero.
    public func zeroGradients() {
        for p in namedParameters() { p.parameter.grad.zero() }
    }

    /// Total number of learnable scalars.
    public var parameterCount: Int { namedParameters().reduce(0) { $0 + $1.parameter.value.count } }
}
