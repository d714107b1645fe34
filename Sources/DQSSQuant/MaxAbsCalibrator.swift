// Max_Abs (TensorRT "max", MNN "MAX_ABS"), ALGORITHMS.md §3.1:
//     T_w = max|W|,   T_a = max|A| over all calibration images (running max; order-independent).

import DQSSTensor

public struct MaxAbsCalibrator: WeightThresholdCalibrator {
    public init() {}
    public var method: PTQMethod { .maxAbs }
    public var requirements: StatisticRequirements { .maxAbs }

    public func weightThreshold(_ w: Tensor, quantizer: UniformQuantizer) -> Float { w.maxAbs() }

    public func thresholds(for data: LayerCalibrationData) throws -> LayerThresholds {
        LayerThresholds(weight: data.layer.weight.value.maxAbs(), activation: data.maxAbs.maxAbs)
    }
}
