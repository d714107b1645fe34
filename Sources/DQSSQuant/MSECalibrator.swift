// MSE calibration (TensorRT's / pytorch-quantization's / NVIDIA Model Optimizer's "mse" histogram
// calibrator): the threshold that minimises the expected squared quantization error of the tensor,
// clipping error included:
//
//     T* = argmin_{T ∈ C} Σ_k n_k · (c_k − Q(c_k; T))²          (sums in Float64)
//
// Activations: n_k, c_k are the counts and centres (k + ½)·w of the 2048-bin |A| histogram of the second
// calibration pass (§3.2 step 1, w = max|A| / 2048). Candidates C = the centres c_i, i = 128 … 2047
// (ModelOpt's start_bin 128, stride 1). Ties → the smallest T (np.argmin takes the first).
// Q is the §1 quantizer of the tensor, computed in Float as when the network runs: for a signed tensor
// |x| is quantized on the symmetric signed grid, whose error on |x| equals that on x; for an unsigned
// one on [0, q_max]. As in ModelOpt, every value of a bin counts at the bin centre, so the exact zeros of
// a post-ReLU input count as ½w: for every T above w·q_max they round to 0 and add the same (½w)² each.
//
// Weights: the same candidates (the centres of the |W| histogram over [0, max|W|]), but the error is
// summed over the exact values of W, Σ_i (w_i − Q(w_i; T))². W is fully known and small (432 to 36,864
// values per layer in the CIFAR ResNets), so there is no need to move each weight to a bin centre; that
// approximation is only needed for activations, whose values over the calibration set are not kept. On
// small tensors the histogram would be sparse (432 values over 2048 bins): the error estimate would be a
// sum over a few centres, each up to ½w away from the weights it stands for. Cost: 1,920 candidates ×
// numel(W) quantizations (about 0.5·10⁹ for all of ResNet-20's weights; a second or two on one core).

import DQSSTensor

public struct MSECalibrator: WeightThresholdCalibrator {
    /// Histogram bins B (2048), activations and the weight candidate grid.
    public var bins: Int
    /// First candidate bin (128, ModelOpt's start_bin); clamped to the last bin on smaller histograms.
    public var startBin: Int

    public init(bins: Int = 2048, startBin: Int = 128) {
        self.bins = bins
        self.startBin = startBin
    }

    public var method: PTQMethod { .mse }
    public var requirements: StatisticRequirements { [.maxAbs, .histogram] }

    /// The candidate thresholds over [0, range] cut into `bins` bins: the centres (k + ½)·range/bins,
    /// k = startBin ..< bins, increasing. Empty when range is 0 (an all-zero tensor).
    public func candidates(range: Float, bins: Int) -> [Float] {
        guard range > 0, range.isFinite else { return [] }
        let w = Double(range) / Double(bins)
        return (min(startBin, bins - 1) ..< bins).map { Float((Double($0) + 0.5) * w) }
    }

    /// Σ_k weight_k · (x_k − Q(x_k; T))² in Float64 (weight 1 per value when `weights` is nil).
    public static func squaredError(_ x: [Float], weights: [Double]? = nil, threshold: Float,
                                    quantizer: UniformQuantizer) -> Double {
        let s = quantizer.scale(threshold: threshold)
        let lo = Float(quantizer.qmin), hi = Float(quantizer.qmax)
        let degenerate = UniformQuantizer.isDegenerate(threshold)
        var sum = 0.0
        for i in x.indices {
            let q = degenerate ? 0 : s * min(max((x[i] / s).rounded(.toNearestOrEven), lo), hi)
            let e = Double(x[i]) - Double(q)
            sum += (weights?[i] ?? 1) * e * e
        }
        return sum
    }

    /// The first candidate with the least error (ties: the smallest T); 0 when there is no candidate.
    static func argmin(_ candidates: [Float], error: (Float) -> Double) -> Float {
        var best: (t: Float, e: Double)?
        for t in candidates {
            let e = error(t)
            if best == nil || e < best!.e { best = (t, e) }
        }
        return best?.t ?? 0
    }

    /// T_a from a gathered |A| histogram: the error of every non-empty bin at its centre.
    public func activationThreshold(_ h: AbsHistogram, quantizer: UniformQuantizer) -> Float {
        let w = h.binWidth
        let filled = h.counts.indices.filter { h.counts[$0] > 0 }
        let centres = filled.map { Float((Double($0) + 0.5) * w) }, counts = filled.map { h.counts[$0] }
        return Self.argmin(candidates(range: h.range, bins: h.bins)) {
            Self.squaredError(centres, weights: counts, threshold: $0, quantizer: quantizer)
        }
    }

    /// T_w from the exact weight values.
    public func weightThreshold(_ w: Tensor, quantizer: UniformQuantizer) -> Float {
        let values = w.array
        return Self.argmin(candidates(range: w.maxAbs(), bins: bins)) {
            Self.squaredError(values, threshold: $0, quantizer: quantizer)
        }
    }

    public func thresholds(for data: LayerCalibrationData) throws -> LayerThresholds {
        guard let h = data.histogram else {
            throw CalibrationError.missingStatistic(layer: data.name, method: "mse", what: "|A| histogram")
        }
        return LayerThresholds(weight: weightThreshold(data.layer.weight.value, quantizer: data.weightQuantizer),
                               activation: activationThreshold(h, quantizer: data.activationQuantizer))
    }
}
