// TensorHook: a differentiable map applied to a Conv2d/Linear input or weight just before the op.
//
// This is where quantization plugs into the engine without the engine knowing about it (arrows point
// down): a fake-quantizer, the DQSS mixture Â = Σ θ_i Q_i(A) (Eq. 9), or a calibration observer that
// records statistics and returns its input unchanged. The op then runs ONE convolution of the hooked
// weight with the hooked input (Eq. 10), and its backward hands dL/dÂ and dL/dŴ back to the hooks.

import DQSSTensor

public protocol TensorHook: AnyObject {
    /// y = f(x), same shape as x. May save what `backward` needs. The returned tensor may be `x` itself
    /// (identity/observer) or a buffer owned by the hook, valid until its next forward.
    func forward(_ x: Tensor) -> Tensor
    /// Given dL/dy, accumulate the hook's own parameter gradients and return dL/dx (hook-owned buffer,
    /// or `gradOutput` itself for a straight pass-through).
    func backward(_ gradOutput: Tensor) -> Tensor
}

/// A layer whose input and weight can be hooked (Conv2d, Linear). Quantization code finds these by
/// walking `namedLayers()`.
public protocol HookableLayer: UnaryLayer {
    var weight: Parameter { get }
    var inputHook: (any TensorHook)? { get set }
    var weightHook: (any TensorHook)? { get set }
}
