// QATDeployment: the network a QAT checkpoint's derived assignment deploys as, in the form an exporter
// (ONNX QDQ: per-tensor scale, zero point 0) and dqss's own uniform fake quantizers both express.
//
// DSQ, LSQ and PACT quantize onto the uniform grid s·[q_min, q_max] with T = s·q_max their threshold, and
// DoReFa's activations onto [0, 1] in steps of 1/q_max (T = 1): their thresholds say it all. DoReFa's
// weights do not: ŵ = c·round(q·tanh(W)/m)/q with m = max|tanh W| and c = max|W| (rescaled, §4.1) — the
// uniform grid of threshold c, applied to W' = c·tanh(W)/m rather than to W. So for every layer whose
// derived weight quantizer is DoReFa (and PACT's weights under --pact-weights dorefa), W is replaced by
// W' and the weight threshold by c: the uniform quantizer of threshold c then gives DoReFa's ŵ (to float
// rounding of the grid index), and the exported integer weights are DoReFa's. The original DoReFa
// weights (--dorefa-weights original: 2^b levels, no zero) are not a symmetric grid: refused.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSCheckpoint

public enum QATDeployment {
    /// Replace, in `network` (holding the checkpoint's state_dict), the weight of every layer whose derived
    /// weight quantizer uses DoReFa's transform by W' = c·tanh(W)/max|tanh W|; returns those layers' new
    /// weight thresholds c by layer name (empty when no layer uses it, or for a checkpoint without QAT
    /// quantizers). Throws, naming the layer, for the original DoReFa weights or an unknown layer.
    @discardableResult
    public static func applyWeightTransforms(to network: any UnaryLayer, checkpoint: Checkpoint, file: String) throws -> [String: Float] {
        guard let q = checkpoint.quantization else { return [:] }
        let config = (try? JSONSerialization.jsonObject(with: Data(checkpoint.config.utf8))) as? [String: Any] ?? [:]
        let original = (config["dorefa_weights"] as? String) == "original"
        let rescale = (config["dorefa_rescale"] as? String) != "off"
        let pactUsesDoReFa = (config["pact_weights"] as? String) == "dorefa"
        let transformed = Set([QATMethod.dorefa.paperName] + (pactUsesDoReFa ? [QATMethod.pact.paperName] : []))
        let points = Dictionary(uniqueKeysWithValues: QuantizedModel.points(of: network).map { ($0.name, $0.layer) })
        var thresholds: [String: Float] = [:]
        for l in q.layers {
            let j = CheckpointSummary.winner(l.beta)
            guard j < q.candidates.count, transformed.contains(q.candidates[j]) else { continue }
            guard !original else {
                throw CheckpointError(.mismatch, file: file, "layer \(l.name): DoReFa's original weights (--dorefa-weights original: 2^b levels without zero) have no symmetric integer grid to export")
            }
            guard let layer = points[l.name] else {
                throw CheckpointError(.mismatch, file: file, "layer \(l.name) of the checkpoint's quantizers is not in the network")
            }
            thresholds[l.name] = dorefaWeightTransform(layer.weight.value, rescale: rescale)
        }
        return thresholds
    }

    /// W ← c·tanh(W)/max|tanh W| in place; returns c (max|W| before, or 1 without rescaling). W = 0 stays 0.
    static func dorefaWeightTransform(_ w: Tensor, rescale: Bool) -> Float {
        let n = w.count, p = w.data
        var mx: Float = 0
        for i in 0..<n { mx = max(mx, abs(p[i])) }
        let c: Float = rescale ? mx : 1
        let m = tanh(mx)
        guard m > 0 else { return c }
        for i in 0..<n { p[i] = c * (tanh(p[i]) / m) }
        return c
    }
}
