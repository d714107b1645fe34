// EQ with one weight threshold per output channel (`--weight-granularity channel`, WeightGranularity.swift).
// Output channel c of the layer depends on W_c alone, so every channel is searched at once: with T_a fixed
// at the per-tensor EQ result, grid point k quantizes every W_c with G(max|W_c|)[k] and ONE forward per
// calibration batch scores all channels. Score of (c, k): the cosine between channel c's FP32 outputs and
// its quantized outputs over all calibration images (sums ⟨O_c, Ô_c⟩, ‖O_c‖², ‖Ô_c‖² accumulated in
// Double and summed over the ranks) — one cosine per channel over the whole set, because the per-image
// cosine of a 1×1 output (a classifier's) is only its sign. A zero norm scores 0 (every k ties, and the
// tie-break picks T⁰ = max|W_c|). Ties → the grid point closest to T⁰, then the smaller (as per tensor).

import DQSSTensor
import DQSSLayers

extension EasyQuantCalibrator {
    /// T_w of every output channel with T_a fixed at the per-tensor search's choice.
    public func channelWeightThresholds(for data: LayerCalibrationData, tensor: LayerThresholds) throws -> [Float] {
        try channelWeightThresholds(for: data, activation: tensor.activation)
    }

    /// T_w of every output channel of `data.layer` with the activation threshold fixed at `activation`.
    public func channelWeightThresholds(for data: LayerCalibrationData, activation: Float) throws -> [Float] {
        let inputs = Self.limit(data.inputs, to: maxImages.map { max(0, $0 - firstImage) })
        if communicator.allreduce(inputs.reduce(0) { $0 + $1.shape[0] }, .sum) == 0 {
            throw CalibrationError.missingStatistic(layer: data.name, method: "easyquant", what: "stored FP32 inputs")
        }
        let layer = data.layer
        let grids = WeightChannels.slices(layer.weight.value).map { grid($0.maxAbs()) }
        let channels = grids.count
        let scorer = CosineScorer(layer: layer, inputs: inputs, weightQuantizer: data.weightQuantizer,
                                  activationQuantizer: data.activationQuantizer, communicator: communicator)
        defer { scorer.restoreHooks() }
        scorer.activationHook.threshold = activation
        // sums[(k · C + c) · 3 + {0: ⟨O, Ô⟩, 1: ‖O‖², 2: ‖Ô‖²}]
        var sums = [Double](repeating: 0, count: gridPoints * channels * 3)
        for batch in inputs {
            scorer.computeReference(batch)
            layer.inputHook = scorer.activationHook
            layer.weightHook = scorer.weightHook
            let reference = scorer.reference
            let n = batch.shape[0], per = reference.count / max(n * channels, 1)
            for k in 0..<gridPoints {
                scorer.weightHook.channelThresholds = grids.map { $0[k] }
                let y = layer.forward(batch)
                sums.withUnsafeMutableBufferPointer { s in
                    let base = s.baseAddress! + k * channels * 3
                    parallelFor(channels) { c in
                        var uv = 0.0, uu = 0.0, vv = 0.0
                        for i in 0..<n {
                            let o = reference.data + (i * channels + c) * per, q = y.data + (i * channels + c) * per
                            for e in 0..<per {
                                let a = Double(o[e]), b = Double(q[e])
                                uv += a * b; uu += a * a; vv += b * b
                            }
                        }
                        base[c * 3] += uv; base[c * 3 + 1] += uu; base[c * 3 + 2] += vv
                    }
                }
            }
        }
        communicator.allreduce(&sums, .sum)
        return (0..<channels).map { c in
            let scores = (0..<gridPoints).map { k -> Double in
                let s = (k * channels + c) * 3
                let uu = sums[s + 1], vv = sums[s + 2]
                return uu == 0 || vv == 0 ? 0 : sums[s] / (uu * vv).squareRoot()
            }
            return grids[c][argmax(scores)]
        }
    }
}
