// CalibrationObserver: the input hook installed on every Conv2d/Linear during the FP32 calibration
// passes (ALGORITHMS.md §3: statistics of the layer input across all calibration images, quantizers
// disabled). It records and returns its input unchanged, so the network computes exactly FP32.
//
//   pass 0: max|A|, min A (decides unsigned activations, §1.1), and a copy of A when a candidate needs
//           the raw values (EQ's FP32 inputs, ADMM's sample)
//   pass 1: the 2048-bin |A| histogram over [0, max|A|] from pass 0 (KL, and EQ's initial T_a)

import DQSSTensor
import DQSSLayers

public final class CalibrationObserver: TensorHook {
    /// Which pass the next forwards belong to (0 or 1).
    public var pass = 0
    public let storesInputs: Bool
    public let histogramBins: Int
    public internal(set) var maxAbs = MaxAbsStatistic()
    /// Smallest value seen in pass 0 (+∞ before any).
    public internal(set) var minimum: Float = .infinity
    public internal(set) var histogram: AbsHistogram?
    /// Copies of the inputs of pass 0, batch by batch.
    public private(set) var inputs: [Tensor] = []

    public init(storesInputs: Bool, histogramBins: Int = 2048) {
        self.storesInputs = storesInputs
        self.histogramBins = histogramBins
    }

    /// True when every observed value was ≥ 0 (the tensor is fed by ReLU/ReLU6 or a pool/concat/shuffle
    /// of such).
    public var isNonNegative: Bool { minimum >= 0 }

    public func forward(_ x: Tensor) -> Tensor {
        if pass == 0 {
            maxAbs.observe(x)
            var m = minimum
            let p = x.data
            for i in 0..<x.count { m = min(m, p[i]) }
            minimum = m
            if storesInputs { inputs.append(x.copy()) }
        } else {
            if histogram == nil { histogram = AbsHistogram(range: maxAbs.maxAbs, bins: histogramBins) }
            histogram!.observe(x)
        }
        return x
    }

    public func backward(_ gradOutput: Tensor) -> Tensor { gradOutput }

    /// Drop the stored inputs (after the thresholds are computed).
    public func releaseInputs() { inputs = [] }
}
