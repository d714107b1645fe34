// dqss-bench qat: the cost of a DQSS QAT step (ALGORITHMS.md §7.2: W, quantizer parameters and α/β in one
// forward-backward, every quantized layer mixing the N candidates on both sides) against a single-candidate
// QAT step and an FP32 step of the same network, measured in ONE run.
//
// Each variant has its own network (same seed, same weights) so the timed steps can be interleaved: every
// round runs FP32, each single candidate and DQSS once, in turn, and each figure is the median over the
// rounds — a load that comes and goes hits every variant alike, so the ratios stay meaningful on a shared
// machine. A step = zero gradients, forward, cross-entropy, backward, SGD update, parameter projection —
// what QATTrainer does per batch (no warm-up observation, no gradient reduction).

import ArgumentParser
import DQSSTensor
import DQSSLayers
import DQSSModels
import DQSSQuant
import DQSSSearch
import Dispatch
import Foundation

struct QATStepRow: Codable {
    var variant: String
    var step_ms: Double
    var images_per_second: Double
    var over_fp32: Double
}

struct QATBenchReport: Codable {
    var model: String
    var batch: Int
    var threads: Int
    var rounds: Int
    var rows: [QATStepRow]
    /// DQSS step (fused pass) / each single-candidate step, and / their median.
    var dqss_over_single: [String: Double]
    /// DQSS step with one full pass per branch / the fused DQSS step.
    var separate_over_fused: Double
    var dqss_over_median_single: Double
    var load_before: MachineLoad
    var load_after: MachineLoad
}

/// What a timed QAT training step needs before its first step: the warm-up of §7.3 once (quantizers
/// initialised from the statistics observed on `input`) and SGD over two groups — network (weights, BN,
/// quantizer parameters) and architecture (α/β, when `network` has them) — as QATTrainer sets them up.
func prepareQATStep(_ model: any UnaryLayer, network: (any QATNetwork)?, input: Tensor) -> SGD {
    if let network {
        network.setObserving(true)
        _ = model.forward(input)
        network.setObserving(false)
        network.initializeWeightQuantizers()
    }
    let parameters = model.namedParameters().map(\.parameter) + (network?.quantizerParameters ?? []).map(\.parameter)
    var groups = [ParameterGroup(name: "network", parameters: parameters, lr: 0.01, momentum: 0.9, weightDecay: 1e-4)]
    let architecture = (network?.architectureParameters ?? []).map(\.parameter)
    if !architecture.isEmpty {
        groups.append(ParameterGroup(name: "architecture", parameters: architecture, lr: 1e-3, momentum: 0.9, weightDecay: 0))
    }
    return SGD(groups: groups)
}

/// One timed training step of a network variant.
private struct QATStepVariant {
    let name: String
    let step: () -> Void
}

private func makeVariant(name: String, depth: Int, batch: Int, install: (any UnaryLayer) -> (any QATNetwork)?) -> QATStepVariant {
    var rng = RNG(seed: 20)
    let model = CIFARResNet(depth: depth, rng: &rng)
    model.setTraining(true)
    if let first = model.namedLayers().lazy.compactMap({ $0.layer as? Conv2d }).first { first.needsInputGradient = false }
    let x = Tensor.uniform([batch, 3, 32, 32], -2, 2, rng: &rng)
    let labels = (0..<batch).map { _ in rng.int(below: 10) }
    let network = install(model)
    let sgd = prepareQATStep(model, network: network, input: x)
    let loss = SoftmaxCrossEntropy()
    return QATStepVariant(name: name) {
        sgd.zeroGradients()
        _ = loss.forward(logits: model.forward(x), labels: labels)
        _ = model.backward(loss.backward())
        sgd.step()
        network?.projectParameters()
    }
}

struct QATStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qat",
        abstract: "DQSS QAT step (N = 4 candidates mixed on both sides) vs single-candidate QAT and FP32 steps, interleaved in one run.")
    @OptionGroup var options: CommonOptions
    @Option(help: "CIFAR ResNet depth (20, 32, 44, 56).") var depth: Int = 20
    @Option(help: "Batch size (CIFAR 32x32 inputs).") var batch: Int = 128
    @Option(help: "Bit width of the inner layers (first/last at 8).") var bits: Int = 4

    func validate() throws {
        guard [20, 32, 44, 56].contains(depth) else { throw ValidationError("--depth must be 20, 32, 44 or 56 (got \(depth))") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1 (got \(batch))") }
        guard (2...8).contains(bits) else { throw ValidationError("--bits must be in 2...8 (got \(bits))") }
    }

    func run() throws {
        let out = options.start()
        let before = MachineLoad.sample()
        out.line("load before: \(before.loadavg)  busiest: \(before.busiest.prefix(3).joined(separator: " | "))")
        var variants = [makeVariant(name: "fp32", depth: depth, batch: batch) { _ in nil }]
        for m in QATMethod.allCases {
            variants.append(makeVariant(name: m.paperName, depth: depth, batch: batch) {
                UniformQATModel(model: $0, method: m, bits: bits)
            })
        }
        // The mixture with one full pass per branch (what the fused pass replaces), then the default.
        variants.append(makeVariant(name: "DQSS-sep", depth: depth, batch: batch) {
            let m = QATMixedModel(model: $0, methods: QATMethod.allCases, bits: bits)
            for h in m.activationHooks + m.weightHooks { h.fusesBranches = false }
            return m
        })
        variants.append(makeVariant(name: "DQSS", depth: depth, batch: batch) {
            QATMixedModel(model: $0, methods: QATMethod.allCases, bits: bits)
        })
        var times = [[Double]](repeating: [], count: variants.count)
        for round in 0...max(1, options.repeats) {   // round 0 warms up (buffers allocated on the first step)
            for (i, v) in variants.enumerated() {
                let t0 = wallSeconds()
                v.step()
                if round > 0 { times[i].append((wallSeconds() - t0) * 1e3) }
            }
            if round > 0 { out.line("round \(round)/\(options.repeats): " + zip(variants, times).map { String(format: "%@ %.0f", $0.name, $1.last!) }.joined(separator: ", ") + " ms") }
        }
        let ms = times.map { statistic(of: $0) }
        let fp32 = ms[0]
        let rows = zip(variants, ms).map { v, t in
            QATStepRow(variant: v.name, step_ms: t, images_per_second: Double(batch) / t * 1e3, over_fp32: t / fp32)
        }
        let dqss = ms[ms.count - 1]
        let singles = Array(zip(variants, ms).dropFirst().dropLast(2))
        var overSingle: [String: Double] = [:]
        for (v, t) in singles { overSingle[v.name] = dqss / t }
        let medianSingle = statistic(of: singles.map(\.1))
        out.line("ResNet-\(depth) QAT step, batch \(batch), W\(bits)A\(bits) (first/last 8), \(options.threads) threads, \(options.statistic) of \(options.repeats) interleaved rounds:")
        for r in rows {
            out.line(String(format: "  %-7@ %8.1f ms  %7.1f images/s  %.2fx FP32", r.variant, r.step_ms, r.images_per_second, r.over_fp32))
        }
        out.line(String(format: "  DQSS / single: %@   (/ median single %.2fx)",
                        singles.map { String(format: "%@ %.2fx", $0.0.name, dqss / $0.1) }.joined(separator: ", "), dqss / medianSingle))
        out.line(String(format: "  DQSS with one pass per branch / fused: %.2fx", ms[ms.count - 2] / dqss))
        let after = MachineLoad.sample()
        out.line("load after: \(after.loadavg)")
        if options.json {
            let report = QATBenchReport(model: "resnet\(depth)", batch: batch, threads: options.threads, rounds: options.repeats,
                                        rows: rows, dqss_over_single: overSingle, separate_over_fused: ms[ms.count - 2] / dqss, dqss_over_median_single: dqss / medianSingle,
                                        load_before: before, load_after: after)
            try printJSON(report)
        }
    }
}
