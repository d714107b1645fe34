// KL (entropy) calibration, ALGORITHMS.md §3.2: the entropy search of KLDivergence.swift on the
// 2048-bin |A| histogram gathered in the second calibration pass, and on the |W| histogram of the
// weight tensor (two passes over W: its max, then the fill).

import DQSSTensor

public struct KLCalibrator: WeightThresholdCalibrator {
    /// Histogram bins B (2048).
    public var bins: Int
    /// nq for signed tensors (128).
    public var signedTargetBins: Int
    /// nq for unsigned tensors (128 by default; `--kl-unsigned-bins 256` reproduces pytorch-quantization).
    public var unsignedTargetBins: Int

    public init(bins: Int = 2048, signedTargetBins: Int = 128, unsignedTargetBins: Int = 128) {
        self.bins = bins
        self.signedTargetBins = signedTargetBins
        self.unsignedTargetBins = unsignedTargetBins
    }

    public var method: PTQMethod { .kl }
    public var requirements: StatisticRequirements { [.maxAbs, .histogram] }

    func targetBins(_ q: UniformQuantizer) -> Int { q.isUnsigned ? unsignedTargetBins : signedTargetBins }

    /// T_w from the |W| histogram.
    public func weightThreshold(_ w: Tensor, quantizer: UniformQuantizer) -> Float {
        KLDivergence.threshold(AbsHistogram.of(w, bins: bins), targetBins: targetBins(quantizer))
    }

    /// T_a from a gathered |A| histogram.
    public func activationThreshold(_ h: AbsHistogram, quantizer: UniformQuantizer) -> Float {
        KLDivergence.threshold(h, targetBins: targetBins(quantizer))
    }

    public func thresholds(for data: LayerCalibrationData) throws -> LayerThresholds {
        guard let h = data.histogram else {
            throw CalibrationError.missingStatistic(layer: data.name, method: "kl", what: "|A| histogram")
        }
        return LayerThresholds(weight: weightThreshold(data.layer.weight.value, quantizer: data.weightQuantizer),
                               activation: activationThreshold(h, quantizer: data.activationQuantizer))
    }
}
