// dqss-bench mixed: cost of the DQSS operator (ALGORITHMS.md §5) on ResNet-20, measured in one run.
//
//   single     : PTQ step with one fixed strategy (FakeQuantHook on every conv/linear input and weight)
//   efficient N: the search step with MixedQuantHooks (Eq. 9–10), N = 1, 2, 4, 8 candidates
//   naive N    : Eq. 7 (N² convolutions forward, 2N² backward)
// A step = zero α/β grads, forward, cross-entropy, backward, SGD update of α, β (weights frozen, BN eval,
// PTQ). The naive form cannot be put inside the model's blocks (their convs are fixed Conv2d
// instances), so its network step is COMPOSED: measured efficient step − Σ_layers efficient layer time +
// Σ_layers naive layer time, each layer measured alone (forward + backward) at its real input shape.
// Memory: bytes of the buffers each operator holds beyond the plain conv (efficient: the mixed input and
// weight and their gradients, independent of N; naive: N quantized inputs and weights, N gradient
// accumulators of each, plus one branch output/gradient), summed over the network's layers; plus the
// process's peak RSS (getrusage ru_maxrss) after each phase, in run order (single, efficient, naive).

import ArgumentParser
import DQSSTensor
import DQSSLayers
import DQSSModels
import DQSSQuant
import DQSSSearch
import Dispatch
import Foundation

struct MixedRow: Codable {
    var form: String
    var candidates: Int
    var step_ms: Double
    var cpu_ms: Double
    var over_single: Double
    var operator_buffer_bytes: Int
    var composed: Bool
    var max_rss_kb: Int
}

struct MixedReport: Codable {
    var batch: Int
    var threads: Int
    var repeats: Int
    var single_step_ms: Double
    var rows: [MixedRow]
    var memory_method: String
    var naive_method: String
    var load_before: MachineLoad
    var load_after: MachineLoad
}

private func maxRSSKilobytes() -> Int {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Int(u.ru_maxrss)
}

/// Candidate k's thresholds: scale_k · max|input| (activation) and scale_k · max|W| (weight).
func benchCandidates(_ model: any UnaryLayer, _ x: Tensor, n: Int) -> [(name: String, layers: [LayerQuantization])] {
    let points = QuantizedModel.points(of: model)
    let obs = points.map { _ in CalibrationObserver(storesInputs: false) }
    for (p, o) in zip(points, obs) { p.layer.inputHook = o }
    _ = model.forward(x)
    QuantizedModel.removeHooks(points)
    return (0..<n).map { k in
        let s = 1 - 0.08 * Float(k)
        return (name: "c\(k)", layers: zip(points, obs).map { p, o in
            LayerQuantization(name: p.name, weightBits: 8, activationBits: 8, activationUnsigned: o.isNonNegative,
                              thresholds: LayerThresholds(weight: s * p.layer.weight.value.maxAbs(),
                                                          activation: s * o.maxAbs.maxAbs))
        })
    }
}

struct Mixed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "DQSS search step on ResNet-20: efficient (Eq. 10) and naive (Eq. 7) mixed operators vs a single-strategy quantized step.")
    @OptionGroup var options: CommonOptions
    @Option(help: "Batch size (CIFAR 32x32 inputs).") var batch: Int = 32
    @Option(help: "Candidate counts N, comma-separated.") var candidates: String = "1,2,4,8"
    @Flag(help: "Skip the naive form.") var skipNaive = false

    func run() throws {
        let out = options.start()
        let ns = candidates.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard let maxN = ns.max(), ns.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--candidates must be positive integers, e.g. 1,2,4,8 (got '\(candidates)')")
        }
        let before = MachineLoad.sample()
        out.line("load before: \(before.loadavg)  busiest: \(before.busiest.prefix(3).joined(separator: " | "))")
        var rng = RNG(seed: 20)
        let model = CIFARResNet(depth: 20, rng: &rng)
        model.setTraining(false)
        for p in model.namedParameters() { p.parameter.requiresGrad = false }
        let x = Tensor.uniform([batch, 3, 32, 32], -2, 2, rng: &rng)
        let labels = (0..<batch).map { _ in rng.int(below: 10) }
        let loss = SoftmaxCrossEntropy()
        let points = QuantizedModel.points(of: model)
        let cands = benchCandidates(model, x, n: maxN)

        // Input shapes of every quantized layer (for the per-layer naive measurements).
        final class ShapeHook: TensorHook {
            var shape: [Int] = []
            func forward(_ x: Tensor) -> Tensor { shape = x.shape; return x }
            func backward(_ g: Tensor) -> Tensor { g }
        }
        let shapeHooks = points.map { _ in ShapeHook() }
        for (p, h) in zip(points, shapeHooks) { p.layer.inputHook = h }
        _ = model.forward(x)
        QuantizedModel.removeHooks(points)

        // Single strategy.
        QuantizedModel.install(points, assignments: cands[0].layers)
        let (singleMs, singleCpu) = wallAndCPUMilliseconds(repeats: options.repeats) {
            _ = loss.forward(logits: model.forward(x), labels: labels)
            _ = model.backward(loss.backward())
        }
        QuantizedModel.removeHooks(points)
        // Hook-held buffers of the single strategy: hooked input + its gradient, hooked weight + its gradient.
        let actElems = shapeHooks.reduce(0) { $0 + $1.shape.reduce(1, *) }
        let wElems = points.reduce(0) { $0 + $1.layer.weight.value.count }
        let hookBytes = 4 * 2 * (actElems + wElems)
        var rows = [MixedRow(form: "single", candidates: 1, step_ms: singleMs, cpu_ms: singleCpu, over_single: 1,
                             operator_buffer_bytes: hookBytes, composed: false, max_rss_kb: maxRSSKilobytes())]
        out.line(String(format: "ResNet-20 PTQ step, batch %d, single strategy (FakeQuantHook): %.1f ms (CPU %.1f ms)",
                        batch, singleMs, singleCpu))

        var efficientSteps: [Int: Double] = [:]
        for n in ns {
            let mixed = try MixedQuantizedModel(model: model, candidates: Array(cands.prefix(n)))
            let sgd = SGD(groups: [ParameterGroup(name: "architecture", parameters: mixed.architectureParameters.map(\.parameter),
                                                  lr: 1e-4, momentum: 0.9, weightDecay: 0)])
            let (ms, cpu) = wallAndCPUMilliseconds(repeats: options.repeats) {
                mixed.zeroArchitectureGradients()
                _ = loss.forward(logits: model.forward(x), labels: labels)
                _ = model.backward(loss.backward())
                sgd.step()
            }
            mixed.remove()
            efficientSteps[n] = ms
            rows.append(MixedRow(form: "efficient", candidates: n, step_ms: ms, cpu_ms: cpu, over_single: ms / singleMs,
                                 operator_buffer_bytes: hookBytes, composed: false, max_rss_kb: maxRSSKilobytes()))
            out.line(String(format: "efficient N=%d: %.1f ms (CPU %.1f ms) = %.2fx single", n, ms, cpu, ms / singleMs))
        }

        if !skipNaive {
            for n in ns {
                var efficientLayers = 0.0, naiveLayers = 0.0
                var naiveBytes = 0
                for (li, p) in points.enumerated() {
                    guard let conv = p.layer as? Conv2d else { continue }   // the Linear stays efficient
                    let shape = shapeHooks[li].shape
                    var r = RNG(seed: UInt64(li))
                    let xin = Tensor.uniform(shape, -1, 1, rng: &r)
                    let ab = cands.prefix(n).map { QuantizerBranch(name: $0.name, quantizer: $0.layers[li].activationQuantizer,
                                                                   threshold: $0.layers[li].thresholds.activation) }
                    let wb = cands.prefix(n).map { QuantizerBranch(name: $0.name, quantizer: $0.layers[li].weightQuantizer,
                                                                   threshold: $0.layers[li].thresholds.weight) }
                    let outShape = conv.geometry(for: shape).outputShape
                    let gy = Tensor.uniform(outShape, -1, 1, rng: &r)
                    let a = MixedQuantHook(side: .activation, branches: ab)
                    let w = MixedQuantHook(side: .weight, branches: wb)
                    w.needsInputGradient = false
                    conv.inputHook = a
                    conv.weightHook = w
                    let (e, _) = wallAndCPUMilliseconds(repeats: options.repeats) { _ = conv.forward(xin); _ = conv.backward(gy) }
                    conv.inputHook = nil
                    conv.weightHook = nil
                    let naive = NaiveMixedConv(conv: conv, activationBranches: ab, weightBranches: wb)
                    let (nv, _) = wallAndCPUMilliseconds(repeats: options.repeats) { _ = naive.forward(xin); _ = naive.backward(gy) }
                    efficientLayers += e
                    naiveLayers += nv
                    naiveBytes += 4 * (2 * n * (xin.count + conv.weight.value.count) + xin.count
                                       + conv.weight.value.count + outShape.reduce(1, *) + xin.count)
                }
                let eff = efficientSteps[n] ?? singleMs
                let composed = eff - efficientLayers + naiveLayers
                rows.append(MixedRow(form: "naive", candidates: n, step_ms: composed, cpu_ms: 0, over_single: composed / singleMs,
                                     operator_buffer_bytes: naiveBytes, composed: true, max_rss_kb: maxRSSKilobytes()))
                out.line(String(format: "naive N=%d (composed): %.1f ms = %.2fx single  (conv layers: naive %.1f ms vs efficient %.1f ms)",
                                n, composed, composed / singleMs, naiveLayers, efficientLayers))
            }
        }
        for r in rows {
            out.line(String(format: "  %-9@ N=%d  operator buffers %.1f MB  peak RSS so far %.0f MB", r.form, r.candidates,
                            Double(r.operator_buffer_bytes) / 1e6, Double(r.max_rss_kb) / 1e3))
        }
        let after = MachineLoad.sample()
        out.line("load after: \(after.loadavg)")
        if options.json {
            let report = MixedReport(
                batch: batch, threads: options.threads, repeats: options.repeats, single_step_ms: singleMs, rows: rows,
                memory_method: "operator_buffer_bytes: float32 buffers held by the quantization operators summed over layers (efficient: mixed input/weight and their gradients, independent of N; naive: 2N quantized+gradient tensors per side plus branch output/gradient); max_rss_kb: getrusage peak RSS after each phase, in run order",
                naive_method: "composed: measured efficient step - sum of efficient conv layers alone + sum of naive conv layers alone (fwd+bwd at the real input shapes); the Linear layer stays efficient",
                load_before: before, load_after: after)
            try printJSON(report)
        }
    }
}
