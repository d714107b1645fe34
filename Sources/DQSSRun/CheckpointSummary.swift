// CheckpointSummary: what `dqss inspect` and `dqss export --format json` report about a checkpoint —
// the run (model, task, step, config) and the per-layer assignment table with θ = softmax(logit / τ) as
// text (the JSON of `inspect --json` is CheckpointSummaryDocument), and the derived assignment as an
// AssignmentDocument.

import Foundation
import DQSSSearch
import DQSSCheckpoint

/// What `dqss inspect` and `dqss export --format json` report about a checkpoint (file header).
public enum CheckpointSummary {
    /// θ of one side of a layer (softmax of the logits at the saved temperature).
    /// A layer without logits (one candidate, e.g. `dqss qat --method lsq`) has θ = [1].
    public static func theta(_ logits: [Float], temperature: Double) -> [Double] {
        logits.isEmpty ? [1] : ArchitectureSoftmax.probabilities(logits.map(Double.init), temperature: temperature)
    }

    /// Winner-take-all index (Eq. 6, ties -> lowest); 0 without logits.
    public static func winner(_ logits: [Float]) -> Int { logits.isEmpty ? 0 : ArchitectureSoftmax.argmax(logits) }

    /// The derived (winner-take-all, Eq. 6; ties -> lowest index) assignment with the winners' thresholds
    /// and α, β: what `dqss export --from CKPT --format json` writes and its other formats read.
    /// - Throws: `CheckpointError` when the checkpoint holds no quantizers (not a search or QAT checkpoint).
    public static func derivedAssignment(_ c: Checkpoint, file: String) throws -> AssignmentDocument {
        guard let q = c.quantization else {
            throw CheckpointError(.mismatch, file: file, "holds no quantizers: nothing to export (not a search or QAT checkpoint)")
        }
        let layers = q.layers.map { l in
            let i = winner(l.alpha), j = winner(l.beta)
            return AssignmentLayer(name: l.name, activation: q.candidates[i], weight: q.candidates[j],
                                   activationThreshold: l.activationThresholds[i], weightThreshold: l.weightThresholds[j],
                                   activationUnsigned: l.activationUnsigned, activationBits: l.activationBits,
                                   weightBits: l.weightBits, alpha: l.alpha, beta: l.beta)
        }
        return AssignmentDocument(source: file, model: c.model, task: c.task, step: c.progress.step, temperature: q.temperature,
                                  candidates: q.candidates, layers: layers)
    }

    /// The human-readable report.
    public static func text(_ c: Checkpoint, file: String) -> String {
        var lines: [String] = []
        lines.append("checkpoint \(file)  (\(Checkpoint.formatName) v\(Checkpoint.formatVersion))")
        lines.append("model \(c.model), task \(c.task), world size \(c.worldSize)")
        lines.append("step \(c.progress.step), epoch \(c.progress.epoch), data cursor \(c.progress.dataCursor), global batch \(c.progress.globalBatch)")
        if !c.commandLine.isEmpty { lines.append("command: \(c.commandLine)") }
        lines.append("config: \(c.config)")
        lines.append("state_dict: \(c.stateDict.count) tensors, \(c.stateDict.reduce(0) { $0 + $1.array.values.count }) values; rng streams: \(c.rngStates.map(\.name).joined(separator: ", "))")
        if let o = c.optimizer {
            let groups = o.groups.map { String(format: "%@ lr %g (base %g, momentum %g, wd %g)", $0.name, $0.lr, $0.baseLR, $0.momentum, $0.weightDecay) }
            lines.append("optimizer: \(o.kind) at schedule time \(o.scheduleTime); " + groups.joined(separator: "; "))
        }
        if let q = c.quantization {
            lines.append("candidates: \(q.candidates.joined(separator: ", ")); temperature \(q.temperature)")
            let nameWidth = max(5, q.layers.map(\.name.count).max() ?? 0)
            func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
            let candWidth = max(10, q.candidates.map(\.count).max() ?? 0)
            let thetaHeader = q.candidates.map { pad($0, 7) }.joined(separator: " ")
            lines.append(pad("layer", nameWidth) + "  bits      " + pad("activation", candWidth) + "  θα[" + thetaHeader + "]  "
                         + pad("weight", candWidth) + "  θβ[" + thetaHeader + "]")
            for l in q.layers {
                let ta = theta(l.alpha, temperature: q.temperature).map { pad(String(format: "%.4f", $0), 7) }.joined(separator: " ")
                let tb = theta(l.beta, temperature: q.temperature).map { pad(String(format: "%.4f", $0), 7) }.joined(separator: " ")
                let bits = pad("W\(l.weightBits)A\(l.activationBits)\(l.activationUnsigned ? "u" : "s")", 8)
                lines.append(pad(l.name, nameWidth) + "  " + bits + "  " + pad(l.activationAssignment, candWidth) + "  θα[" + ta + "]  "
                             + pad(l.weightAssignment, candWidth) + "  θβ[" + tb + "]")
            }
        }
        return lines.joined(separator: "\n")
    }
}
