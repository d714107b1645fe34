// CheckpointSummary: what `dqss inspect` and `dqss export --format json` report about a checkpoint —
// the run (model, task, step, config) and the per-layer assignment table with θ = softmax(logit / τ).

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

    /// The derived (winner-take-all, Eq. 6; ties -> lowest index) assignment with the winners'
    /// thresholds, one object per layer with the keys of DQSSSearch's `LayerStrategy` JSON plus bit widths.
    public static func derivedLayers(_ q: QuantizationState) -> [[String: Any]] {
        q.layers.map { l in
            let i = winner(l.alpha), j = winner(l.beta)
            return [
                "name": l.name, "activation": i, "weight": j,
                "activation_candidate": q.candidates[i], "weight_candidate": q.candidates[j],
                "activation_threshold": jsonFloat(l.activationThresholds[i]),
                "weight_threshold": jsonFloat(l.weightThresholds[j]),
                "alpha": l.alpha.map(Double.init), "beta": l.beta.map(Double.init),
                "weight_bits": l.weightBits, "activation_bits": l.activationBits,
                "activation_unsigned": l.activationUnsigned,
            ]
        }
    }

    /// JSON-ready dictionary of everything `inspect --json` prints.
    public static func json(_ c: Checkpoint, file: String) -> [String: Any] {
        var out: [String: Any] = [
            "file": file, "format": Checkpoint.formatName, "format_version": Checkpoint.formatVersion,
            "model": c.model, "task": c.task, "world_size": c.worldSize, "command_line": c.commandLine,
            "config": (try? JSONSerialization.jsonObject(with: Data(c.config.utf8))) ?? c.config,
            "progress": ["epoch": c.progress.epoch, "step": c.progress.step, "data_cursor": c.progress.dataCursor,
                         "global_batch": c.progress.globalBatch],
            "rng_streams": c.rngStates.map(\.name),
            "state_dict": ["tensors": c.stateDict.count, "values": c.stateDict.reduce(0) { $0 + $1.array.values.count }],
        ]
        if let o = c.optimizer {
            out["optimizer"] = [
                "kind": o.kind, "schedule_time": o.scheduleTime, "parameters_with_state": o.state.count,
                "groups": o.groups.map { g in
                    ["name": g.name, "lr": Double(g.lr), "base_lr": Double(g.baseLR), "momentum": Double(g.momentum),
                     "weight_decay": Double(g.weightDecay), "nesterov": g.nesterov, "parameters": g.parameterNames.count] as [String: Any]
                },
            ] as [String: Any]
        }
        if let q = c.quantization {
            out["quantization"] = [
                "candidates": q.candidates, "temperature": q.temperature,
                "layers": q.layers.map { l in
                    [
                        "name": l.name, "weight_bits": l.weightBits, "activation_bits": l.activationBits,
                        "activation_unsigned": l.activationUnsigned,
                        "activation": l.activationAssignment, "weight": l.weightAssignment,
                        "alpha": l.alpha.map(Double.init), "beta": l.beta.map(Double.init),
                        "theta_alpha": theta(l.alpha, temperature: q.temperature),
                        "theta_beta": theta(l.beta, temperature: q.temperature),
                        "activation_thresholds": l.activationThresholds.map(jsonFloat),
                        "weight_thresholds": l.weightThresholds.map(jsonFloat),
                        "parameters": Dictionary(uniqueKeysWithValues: l.parameters.map { p in
                            (p.name, p.array.float32Values.map { $0.map(jsonFloat) } as Any? ?? p.array.values.typeName)
                        }),
                    ] as [String: Any]
                },
            ] as [String: Any]
        }
        return out
    }

    /// NaN/±inf are not JSON numbers: they become null.
    static func jsonFloat(_ v: Float) -> Any { v.isFinite ? Double(v) : NSNull() }

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
