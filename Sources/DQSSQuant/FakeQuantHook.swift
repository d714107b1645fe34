// FakeQuantHook: the §1 quantizer with a fixed threshold, plugged into a Conv2d/Linear input or weight
// (TensorHook). Forward x̂ = s·clamp(round(x/s), q_min, q_max); backward is the clipped
// straight-through estimator of §1.2 (gradient passed where |x| ≤ T signed, 0 ≤ x ≤ T unsigned).
// With `channelThresholds` (weights, `--weight-granularity channel`) the tensor [O, ...] is quantized slice
// by slice, W[c, ...] with T_c. With `rounding` (AdaRound, WeightRounding.swift) each weight is rounded up
// or down as its mask says instead of to the nearest grid point; backward is the same STE.

import DQSSTensor
import DQSSLayers

public final class FakeQuantHook: TensorHook {
    public var quantizer: UniformQuantizer
    public var threshold: Float
    /// One threshold per slice along the first axis (output channels of a weight); nil: `threshold`.
    public var channelThresholds: [Float]?
    /// Learned rounding directions of a weight (AdaRound); nil: round to nearest.
    public var rounding: WeightRounding?
    private var savedInput: Tensor?
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    public init(quantizer: UniformQuantizer, threshold: Float, channelThresholds: [Float]? = nil,
                rounding: WeightRounding? = nil) {
        self.quantizer = quantizer
        self.threshold = threshold
        self.channelThresholds = channelThresholds
        self.rounding = rounding
    }

    /// (first element, count, threshold) of every slice quantized with one threshold.
    private func slices(_ x: Tensor) -> [(offset: Int, count: Int, threshold: Float)] {
        guard let t = channelThresholds else { return [(0, x.count, threshold)] }
        precondition(x.shape.first == t.count, "FakeQuantHook: \(t.count) channel thresholds for a tensor \(x.shape)")
        let per = x.count / max(t.count, 1)
        return t.enumerated().map { ($0.offset * per, per, $0.element) }
    }

    public func forward(_ x: Tensor) -> Tensor {
        savedInput = x
        output.resize(to: x.shape)
        if let rounding { precondition(rounding.count == x.count, "FakeQuantHook: \(rounding.count) rounding bits for a tensor \(x.shape)") }
        for s in slices(x) {
            if let rounding {
                rounding.fakeQuantize(x.data + s.offset, into: output.data + s.offset, count: s.count,
                                      offset: s.offset, threshold: s.threshold, quantizer: quantizer)
            } else {
                quantizer.fakeQuantize(x.data + s.offset, into: output.data + s.offset, count: s.count, threshold: s.threshold)
            }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let x = savedInput else { preconditionFailure("FakeQuantHook.backward before forward") }
        gradInput.resize(to: gradOutput.shape)
        for s in slices(x) {
            quantizer.steBackward(input: x.data + s.offset, gradOutput: gradOutput.data + s.offset,
                                  into: gradInput.data + s.offset, count: s.count, threshold: s.threshold)
        }
        return gradInput
    }
}
