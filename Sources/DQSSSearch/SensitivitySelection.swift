// Sensitivity-score selection: the label-free, training-free peer of the DQSS search (issue 18 (b); the
// score NVIDIA Model Optimizer's auto_quantize ranks (layer, format) pairs by). From ONE FP32 backward
// of the task loss per calibration batch, every candidate c of every layer l and side gets the
// first-order loss change of quantizing that tensor alone with c:
//
//   activation side (y = the layer's input A, one image n at a time):
//       S_a(l, c) = Σ_n Σ_i ( ∂ℓ_n/∂y_{n,i} · (Q_c(y_{n,i}) − y_{n,i}) )²
//   weight side (y = the layer's weight W, one calibration batch b at a time):
//       S_w(l, c) = Σ_b Σ_j ( ∂L_b/∂W_j · (Q_c(W_j) − W_j) )²,     L_b = Σ_{n∈b} ℓ_n
//
// ℓ_n is image n's task loss (CE with its label, or KL to the FP32 softmax) of the FP32 network in eval
// mode, Q_c candidate c's §1 fake-quantizer with its calibrated threshold for that tensor. Summing the
// per-image losses (not averaging) over a batch makes the activation side independent of how the images
// are batched: in eval mode image n's activations only reach ℓ_n, so ∂L_b/∂y_n = ∂ℓ_n/∂y_n. The weight
// gradient is the batch's (the weight is shared by the batch), so S_w depends on the calibration batch
// size; S_a does not. Selection takes, per layer and side independently, argmin_c S (ties -> the lowest
// candidate index, the branch order). Every layer is scored in the FP32 network (the others unquantized),
// which is what makes it one backward for all candidates, and what it cannot see: interactions.

import DQSSTensor
import DQSSLayers
import DQSSQuant

/// The per-layer, per-side sensitivity scores of every candidate (file header), in Float64.
public struct SensitivityScores: Sendable, Equatable {
    /// activation[l][c] = S_a(l, c); weight[l][c] = S_w(l, c). Layers in module order, candidates in branch order.
    public var activation: [[Double]]
    public var weight: [[Double]]

    public init(activation: [[Double]], weight: [[Double]]) {
        precondition(activation.count == weight.count, "\(activation.count) activation and \(weight.count) weight score rows")
        self.activation = activation
        self.weight = weight
    }

    /// Per layer and side, the candidate with the lowest score; ties -> the lowest index (branch order).
    public var selection: StrategyChoice {
        StrategyChoice(activation: activation.map(Self.argmin), weight: weight.map(Self.argmin))
    }

    /// Index of the smallest value, the first of equal ones (NaN never wins).
    public static func argmin(_ v: [Double]) -> Int {
        var best = 0
        for i in v.indices where v[i] < v[best] || (v[best].isNaN && !v[i].isNaN) { best = i }
        return best
    }

    /// Every score as one flat array (activation rows, then weight rows), for a sum over ranks.
    public var flattened: [Double] { activation.flatMap { $0 } + weight.flatMap { $0 } }

    /// The inverse of `flattened` for the same shape.
    public func reshaped(_ flat: [Double]) -> SensitivityScores {
        precondition(flat.count == flattened.count, "\(flat.count) values for \(flattened.count) scores")
        var i = 0
        func rows(_ like: [[Double]]) -> [[Double]] {
            like.map { row in defer { i += row.count }; return Array(flat[i..<(i + row.count)]) }
        }
        let a = rows(activation), w = rows(weight)
        return SensitivityScores(activation: a, weight: w)
    }
}

/// One side of one layer during the sensitivity pass: identity forward (the FP32 network), and in the
/// backward, with g = ∂L/∂y, S_c += Σ_i (g_i · (Q_c(y_i) − y_i))² for every candidate c (file header).
/// The gradient passes through unchanged.
public final class SensitivityProbe: TensorHook {
    /// Each candidate's fake quantizer for this tensor (its threshold, or per-channel thresholds), in branch order.
    public let candidates: [FakeQuantHook]
    /// Accumulated S_c, one per candidate.
    public private(set) var scores: [Double]
    private var saved: Tensor?

    public init(candidates: [FakeQuantHook]) {
        self.candidates = candidates
        scores = [Double](repeating: 0, count: candidates.count)
    }

    public func forward(_ x: Tensor) -> Tensor {
        saved = x
        return x
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let y = saved else { preconditionFailure("SensitivityProbe.backward before forward") }
        precondition(gradOutput.count == y.count, "SensitivityProbe: gradient \(gradOutput.shape) vs input \(y.shape)")
        let n = y.count, g = gradOutput.data, x = y.data
        for (c, q) in candidates.enumerated() {
            let yq = q.forward(y).data
            var s = 0.0
            for i in 0..<n {
                let d = Double(g[i]) * (Double(yq[i]) - Double(x[i]))
                s += d * d
            }
            scores[c] += s
        }
        return gradOutput
    }
}

public enum SensitivitySelection {
    /// The scores of every candidate of `table` on every layer of `points` (file header): probes on every
    /// input and weight, model parameters frozen for the pass (restored after), then `backwardPasses`
    /// runs the FP32 forward/backward of the summed task loss over the calibration batches.
    /// - Parameters:
    ///   - model: the network the points belong to (its parameters' `requiresGrad` are restored after).
    ///   - backwardPasses: forward and backward over the data; its return value is passed through.
    public static func scores<R>(model: any Layer, points: [QuantizationPoint], table: CandidateTable,
                                 backwardPasses: () throws -> R) rethrows -> (scores: SensitivityScores, result: R) {
        precondition(points.count == table.layerCount, "\(points.count) layers, table of \(table.layerCount)")
        let params = model.namedParameters().map(\.parameter)
        let trainable = params.map(\.requiresGrad)
        // Only ∂L/∂y is wanted: no parameter gradient is accumulated (or left behind) by the pass.
        for p in params { p.requiresGrad = false }
        var probes: [(a: SensitivityProbe, w: SensitivityProbe)] = []
        for (l, p) in points.enumerated() {
            let qs = table.names.indices.map { table.layers[$0][l] }
            let a = SensitivityProbe(candidates: qs.map { FakeQuantHook(quantizer: $0.activationQuantizer, threshold: $0.thresholds.activation) })
            let w = SensitivityProbe(candidates: qs.map {
                FakeQuantHook(quantizer: $0.weightQuantizer, threshold: $0.thresholds.weight, channelThresholds: $0.thresholds.weightChannels,
                              rounding: $0.thresholds.weightRounding)
            })
            p.layer.inputHook = a
            p.layer.weightHook = w
            probes.append((a, w))
        }
        defer {
            QuantizedModel.removeHooks(points)
            for (p, t) in zip(params, trainable) { p.requiresGrad = t }
        }
        let result = try backwardPasses()
        return (SensitivityScores(activation: probes.map(\.a.scores), weight: probes.map(\.w.scores)), result)
    }
}
