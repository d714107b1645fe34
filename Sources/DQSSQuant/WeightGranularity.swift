// Weight granularity (`--weight-granularity tensor|channel`): one weight threshold per layer (the paper's
// setting, the default) or one per OUTPUT channel, as TensorRT, ONNX QDQ (per-axis scales, axis 0), NVIDIA
// Model Optimizer, AIMET and MQBench quantize conv/linear weights by default.
//
// Per channel, each calibrator applies its own per-tensor rule to the channel's slice W[c, ...] as if it
// were the whole tensor (Max_Abs: max|W_c|; KL and MSE: on W_c's histogram / values; percentile: W_c's
// r-th |w|; ADMM: the scale ADMM finds for W_c). EQ searches each channel's threshold on that channel's
// output (EasyQuantCalibrator.channelWeightThresholds). Activations stay per tensor.

import DQSSTensor

public enum WeightGranularity: String, Sendable, Codable, CaseIterable {
    case tensor
    case channel
}

/// A candidate whose weight threshold is a function of the weight tensor alone (every one but EQ).
public protocol WeightThresholdCalibrator: ThresholdCalibrator {
    func weightThreshold(_ w: Tensor, quantizer: UniformQuantizer) -> Float
}

extension WeightThresholdCalibrator {
    /// T_w of every output channel: the per-tensor rule on each slice W[c, ...].
    public func channelWeightThresholds(_ w: Tensor, quantizer: UniformQuantizer) -> [Float] {
        WeightChannels.slices(w).map { weightThreshold($0, quantizer: quantizer) }
    }

    public func channelWeightThresholds(for data: LayerCalibrationData, tensor: LayerThresholds) throws -> [Float] {
        channelWeightThresholds(data.layer.weight.value, quantizer: data.weightQuantizer)
    }
}

public enum WeightChannels {
    /// Output channels of a weight [O, ...] (conv OIHW, linear [out, in]).
    public static func count(_ w: Tensor) -> Int { w.shape.first ?? 1 }

    /// Copies of W[c, ...], c = 0 ..< O, each shaped [1, ...].
    public static func slices(_ w: Tensor) -> [Tensor] {
        let o = count(w), per = w.count / max(o, 1)
        return (0..<o).map { c in
            let t = Tensor(shape: [1] + w.shape.dropFirst())
            t.data.update(from: w.data + c * per, count: per)
            return t
        }
    }
}
