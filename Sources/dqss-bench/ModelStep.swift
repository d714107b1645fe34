// dqss-bench step: one training step of any zoo model (issue 21) — FP32, a single QAT candidate, the DQSS PTQ search step, or the
// DQSS QAT mixture (N = 4 on both sides) — with what it achieves against the machine:
//   ms and images/s (median over --repeat steps after one warm-up step, split into forward + loss,
//   backward and optimizer update); achieved GFLOP/s = 3 x 2 x forward MACs x batch / step time
//   (backward ≈ twice the forward; the first conv's input gradient, which is not computed, is counted
//   anyway, as PyTorch's profilers count it); its ratio to cblas_sgemm measured in the same run at a square
//   1024 shape; peak RSS of the process;
//   a profile of the convolutions: every Conv2d/Linear of the model timed alone at its own input shape
//   (forward, and forward + backward), summed by kind (k x k, 1x1, depthwise, linear) with their GFLOP/s;
//   "other" = the step minus those sums (BatchNorm, activations, pooling, additions, fake-quant passes,
//   loss and update).
// Synthetic data (uniform inputs, random labels) and a random initialisation: speed does not depend on
// the values, except DSQ/DoReFa's tanh paths, which see the same quantizers whatever the weights are.

import ArgumentParser
import Foundation
import DQSSTensor
import DQSSLayers
import DQSSModels
import DQSSQuant
import DQSSSearch

struct ModelStepReport: Codable {
    struct LayerTime: Codable {
        var name: String
        var kind: String
        var input_shape: [Int]
        var forward_ms: Double
        var forward_backward_ms: Double
        var gflops: Double
        /// What ran it: "im2col" or oneDNN's implementation names (forward, backward-data, backward-weights).
        var implementation: String
    }
    struct Kind: Codable {
        var kind: String
        var layers: Int
        var forward_ms: Double
        var forward_backward_ms: Double
        var gflop: Double
        var gflops: Double
        var share_of_step: Double
        /// With `--conv-backend both`: the same layers' forward + backward with im2col (oneDNN above).
        var forward_backward_ms_im2col: Double?
    }
    var model: String
    var image: Int
    var batch: Int
    var mode: String
    var threads: Int
    var repeats: Int
    var step_ms: Double
    var forward_ms: Double
    var backward_ms: Double
    var update_ms: Double
    var images_per_second: Double
    var forward_gmac_per_image: Double
    var achieved_gflops: Double
    var sgemm_gflops: Double
    var achieved_over_sgemm: Double
    var peak_rss_mb: Double
    var profile: [Kind]?
    /// Every Conv2d/Linear alone at its input shape, in network order (the kinds above are their sums).
    var layers: [LayerTime]?
    var other_ms: Double?
    /// The convolution backend of step_ms and the profile.
    var conv_backend: String
    /// With `--conv-backend both`: median step per backend, steps interleaved A B A B in this run.
    var step_ms_by_backend: [String: Double]?
    /// oneDNN step / im2col step (both measured in this run).
    var onednn_over_im2col: Double?
    var load_before: MachineLoad
    var load_after: MachineLoad
}

enum StepBackend: String, ExpressibleByArgument, CaseIterable { case im2col, onednn, both }

enum StepMode: String, ExpressibleByArgument, CaseIterable { case fp32, qat, dqssQAT = "dqss-qat", dqssPTQ = "dqss-ptq" }

/// A hook that only records the shape it sees (to find every layer's input shape in one forward).
private final class ShapeRecorder: TensorHook {
    var shape: [Int] = []
    func forward(_ x: Tensor) -> Tensor { shape = x.shape; return x }
    func backward(_ g: Tensor) -> Tensor { g }
}

/// One Conv2d/Linear copy at its input shape, to time alone.
private struct LayerKernel {
    var name: String
    var inputShape: [Int]
    var implementation: String
    var kind: String
    var macs: Double
    var forward: () -> Void
    var backward: () -> Void
    var setBackend: (ConvBackend) -> Void
}

/// (kind, MACs of the whole batch, a timing body pair) for every Conv2d/Linear of `model` at its input shape.
private func layerKernels(_ model: any UnaryLayer, input: Tensor, backend: ConvBackend) -> [LayerKernel] {
    var recorders: [(String, any Layer, ShapeRecorder)] = []
    for (name, l) in model.namedLayers() {
        let r = ShapeRecorder()
        if let c = l as? Conv2d { c.inputHook = r; recorders.append((name, c, r)) }
        if let f = l as? Linear { f.inputHook = r; recorders.append((name, f, r)) }
    }
    _ = model.forward(input)
    var rng = RNG(seed: 7)
    var out: [LayerKernel] = []
    for (name, l, r) in recorders {
        if let c = l as? Conv2d {
            c.inputHook = nil
            let s = r.shape, (h, w) = (s[2], s[3])
            let oh = (h + 2 * c.padding - c.kernelSize) / c.stride + 1, ow = (w + 2 * c.padding - c.kernelSize) / c.stride + 1
            let macs = Double(s[0] * c.outChannels * oh * ow * (c.inChannels / c.groups) * c.kernelSize * c.kernelSize)
            let kind = c.groups > 1 && c.groups == c.inChannels ? "depthwise \(c.kernelSize)x\(c.kernelSize)"
                : c.groups > 1 ? "grouped \(c.kernelSize)x\(c.kernelSize)" : "conv \(c.kernelSize)x\(c.kernelSize)"
            let copy = Conv2d(c.inChannels, c.outChannels, kernelSize: c.kernelSize, stride: c.stride, padding: c.padding,
                              groups: c.groups, bias: c.bias != nil, rng: &rng)
            copy.isTraining = true
            copy.workspace.backend = backend
            let x = Tensor.uniform(s, -1, 1, rng: &rng)
            let dy = Tensor.uniform([s[0], c.outChannels, oh, ow], -1, 1, rng: &rng)
            let g = ConvGeometry(batch: s[0], inChannels: c.inChannels, inH: h, inW: w, outChannels: c.outChannels,
                                 kernel: c.kernelSize, stride: c.stride, padding: c.padding, groups: c.groups)
            out.append(LayerKernel(name: name, inputShape: s, implementation: copy.workspace.implementation(for: g, bias: c.bias != nil),
                                   kind: kind, macs: macs, forward: { _ = copy.forward(x) }, backward: { _ = copy.backward(dy) },
                                   setBackend: { copy.workspace.backend = $0 }))
        } else if let f = l as? Linear {
            f.inputHook = nil
            let s = r.shape
            let copy = Linear(f.inFeatures, f.outFeatures, bias: f.bias != nil, rng: &rng)
            copy.isTraining = true
            let x = Tensor.uniform(s, -1, 1, rng: &rng)
            let dy = Tensor.uniform([s[0], f.outFeatures], -1, 1, rng: &rng)
            out.append(LayerKernel(name: name, inputShape: s, implementation: "sgemm", kind: "linear", macs: Double(s[0] * f.inFeatures * f.outFeatures),
                                   forward: { _ = copy.forward(x) }, backward: { _ = copy.backward(dy) }, setBackend: { _ in }))
        }
    }
    return out
}

/// cblas_sgemm GFLOP/s at M = N = K = 1024 (the machine's GEMM ceiling with these threads).
private func sgemmGflops(repeats: Int) -> Double {
    var rng = RNG(seed: 5)
    let n = 1024
    let a = Tensor.uniform([n, n], rng: &rng), b = Tensor.uniform([n, n], rng: &rng), c = Tensor(shape: [n, n])
    let t = medianSeconds(repeats: repeats) {
        gemm(.none, .none, m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n)
    }
    return 2 * Double(n * n * n) / t / 1e9
}

private func peakRSSMegabytes() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024   // kilobytes on Linux
}

struct ModelStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "One training step of any zoo model (fp32, one QAT candidate, or the DQSS QAT mixture): ms, images/s, GFLOP/s against sgemm, peak RSS, and a profile of its convolutions.")
    @OptionGroup var options: CommonOptions
    @Option(help: "Zoo model (\(ModelZoo.names.joined(separator: ", "))).") var model: String = "resnet20"
    @Option(help: "Input height = width (default: the model's own, 32 for CIFAR models, 224 for ImageNet ones).") var image: Int?
    @Option(help: "Batch size.") var batch: Int = 128
    @Option(help: "fp32, qat (one candidate, --method), dqss-qat (the four QAT candidates mixed on both sides) or dqss-ptq (the PTQ search step: weights and BatchNorm frozen, four 8-bit candidates mixed on both sides, only α/β updated; GFLOP/s still counts 3x the forward).") var mode: StepMode = .fp32
    @Option(help: "The QAT candidate of --mode qat: dorefa, dsq, lsq or pact.") var method: String = "lsq"
    @Option(help: "Bit width of the inner layers in the QAT modes (first conv and classifier at 8).") var bits: Int = 4
    @Flag(inversion: .prefixedNo, help: "Time every Conv2d/Linear alone at its input shape (the profile).") var profile = true
    @Option(help: "Convolution backend: onednn, im2col, or both (steps alternate A B A B in one run; the profile uses oneDNN).")
    var convBackend: StepBackend = .onednn

    func validate() throws {
        _ = try ModelZoo.spec(named: model)
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1 (got \(batch))") }
        if let image, image < 8 { throw ValidationError("--image must be at least 8 (got \(image))") }
        guard QATMethod(rawValue: method) != nil else {
            throw ValidationError("--method must be one of \(QATMethod.allCases.map(\.rawValue).joined(separator: ", ")) (got \(method))")
        }
        guard (2...8).contains(bits) else { throw ValidationError("--bits must be in 2...8 (got \(bits))") }
    }

    func run() throws {
        let out = options.start()
        let before = MachineLoad.sample()
        out.line("load before: \(before.loadavg)  busiest: \(before.busiest.prefix(3).joined(separator: " | "))")
        let spec = try ModelZoo.spec(named: model)
        let size = image ?? spec.inputShape[1]
        var rng = RNG(seed: 21)
        let net = spec.make(rng: &rng)
        let x = Tensor.uniform([batch, 3, size, size], -2, 2, rng: &rng)
        let labels = (0..<batch).map { _ in rng.int(below: spec.numClasses) }

        // MACs and the per-layer kernels from the FP32 network, before any quantizer takes the hooks.
        let backends: [ConvBackend] = switch convBackend {
        case .im2col: [.im2col]
        case .onednn: [.oneDNN]
        case .both: [.oneDNN, .im2col]
        }
        net.setTraining(false)
        let kernels = layerKernels(net, input: x, backend: backends[0])
        let macs = kernels.reduce(0) { $0 + $1.macs }

        net.setTraining(true)
        if let first = net.namedLayers().lazy.compactMap({ $0.layer as? Conv2d }).first { first.needsInputGradient = false }
        let network: (any QATNetwork)? = switch mode {
        case .fp32, .dqssPTQ: nil
        case .qat: UniformQATModel(model: net, method: QATMethod(rawValue: method)!, bits: bits)
        case .dqssQAT: QATMixedModel(model: net, methods: QATMethod.allCases, bits: bits)
        }
        let sgd: SGD
        var ptqSearch: MixedQuantizedModel?
        if mode == .dqssPTQ {
            // PTQ (ALGORITHMS.md §6 step 1): BatchNorm in eval mode, weights frozen, α/β the only parameters.
            // Candidate k: thresholds (1 − 0.08k)·max|·| at 8 bits (as `dqss-bench mixed`; speed does not
            // depend on the thresholds).
            net.setTraining(false)
            let mixed = try MixedQuantizedModel(model: net, candidates: benchCandidates(net, x, n: 4))
            ptqSearch = mixed
            sgd = SGD(groups: [ParameterGroup(name: "architecture", parameters: mixed.architectureParameters.map(\.parameter),
                                              lr: 1e-4, momentum: 0.9, weightDecay: 0)])
        } else {
            sgd = prepareQATStep(net, network: network, input: x)
        }
        let loss = SoftmaxCrossEntropy()
        let label = mode == .qat ? "qat \(method)" : mode.rawValue
        out.line(String(format: "%@ %dx%d batch %d, %@: %.3f GMAC forward per image", model, size, size, batch, label, macs / Double(batch) / 1e9))

        let convs = net.namedLayers().compactMap { $0.layer as? Conv2d }
        var fwd: [Double] = [], bwd: [Double] = [], upd: [Double] = [], total: [Double] = []
        var byBackend: [ConvBackend: [Double]] = [:]
        // Round 0 warms up (buffers allocated, oneDNN kernels generated on the first step). With both
        // backends the rounds alternate them, so a load change hits both alike.
        for round in 0...max(1, options.repeats) { for backend in backends.reversed() {
            for c in convs { c.workspace.backend = backend }
            let t0 = wallSeconds()
            sgd.zeroGradients()
            _ = loss.forward(logits: net.forward(x), labels: labels)
            let t1 = wallSeconds()
            _ = net.backward(loss.backward())
            let t2 = wallSeconds()
            sgd.step()
            network?.projectParameters()
            let t3 = wallSeconds()
            if round > 0 {
                byBackend[backend, default: []].append(t3 - t0)
                if backend == backends[0] { fwd.append(t1 - t0); bwd.append(t2 - t1); upd.append(t3 - t2); total.append(t3 - t0) }
                out.line(String(format: "step %d/%d %@: %.1f ms", round, options.repeats, backend.rawValue, (t3 - t0) * 1e3))
            }
        } }
        for c in convs { c.workspace.backend = backends[0] }
        let stepSeconds = statistic(of: total)
        let stepsByBackend = byBackend.count > 1
            ? Dictionary(uniqueKeysWithValues: byBackend.map { ($0.key.rawValue, statistic(of: $0.value) * 1e3) }) : nil
        let ratio = stepsByBackend.map { $0[ConvBackend.oneDNN.rawValue]! / $0[ConvBackend.im2col.rawValue]! }
        let gemm = sgemmGflops(repeats: options.repeats)
        let achieved = 6 * macs / stepSeconds / 1e9

        var kinds: [ModelStepReport.Kind]?
        var layerTimes: [ModelStepReport.LayerTime]?
        var other: Double?
        if profile {
            var byKind: [String: (layers: Int, f: Double, fb: Double, macs: Double, fbOther: Double)] = [:]
            var perLayer: [ModelStepReport.LayerTime] = []
            for k in kernels {
                k.setBackend(backends[0])
                let tf = medianSeconds(repeats: options.repeats, k.forward)
                let tfb = medianSeconds(repeats: options.repeats) { k.forward(); k.backward() }
                var other = 0.0
                if backends.count > 1 {
                    k.setBackend(backends[1])
                    k.forward(); k.backward()   // warm-up of the other backend's buffers
                    other = medianSeconds(repeats: options.repeats) { k.forward(); k.backward() }
                }
                perLayer.append(.init(name: k.name, kind: k.kind, input_shape: k.inputShape, forward_ms: tf * 1e3,
                                      forward_backward_ms: tfb * 1e3, gflops: 6 * k.macs / tfb / 1e9,
                                      implementation: k.implementation))
                let e = byKind[k.kind] ?? (0, 0, 0, 0, 0)
                byKind[k.kind] = (e.layers + 1, e.f + tf, e.fb + tfb, e.macs + k.macs, e.fbOther + other)
            }
            kinds = byKind.sorted { $0.value.fb > $1.value.fb }.map { kind, e in
                ModelStepReport.Kind(kind: kind, layers: e.layers, forward_ms: e.f * 1e3, forward_backward_ms: e.fb * 1e3,
                                     gflop: 6 * e.macs / 1e9, gflops: 6 * e.macs / e.fb / 1e9, share_of_step: e.fb / stepSeconds,
                                     forward_backward_ms_im2col: backends.count > 1 ? e.fbOther * 1e3 : nil)
            }
            other = (stepSeconds - byKind.values.reduce(0) { $0 + $1.fb }) * 1e3
            layerTimes = perLayer
        }
        let report = ModelStepReport(
            model: model, image: size, batch: batch, mode: label, threads: options.threads, repeats: options.repeats,
            step_ms: stepSeconds * 1e3, forward_ms: statistic(of: fwd) * 1e3, backward_ms: statistic(of: bwd) * 1e3,
            update_ms: statistic(of: upd) * 1e3, images_per_second: Double(batch) / stepSeconds,
            forward_gmac_per_image: macs / Double(batch) / 1e9, achieved_gflops: achieved, sgemm_gflops: gemm,
            achieved_over_sgemm: achieved / gemm, peak_rss_mb: peakRSSMegabytes(), profile: kinds, layers: layerTimes, other_ms: other,
            conv_backend: backends[0].rawValue, step_ms_by_backend: stepsByBackend, onednn_over_im2col: ratio,
            load_before: before, load_after: MachineLoad.sample())
        out.line(String(format: "step %.1f ms (forward+loss %.1f, backward %.1f, update %.1f): %.1f images/s, %.1f GFLOP/s = %.2fx sgemm (%.1f GFLOP/s); peak RSS %.0f MB",
                        report.step_ms, report.forward_ms, report.backward_ms, report.update_ms, report.images_per_second,
                        achieved, achieved / gemm, gemm, report.peak_rss_mb))
        for k in kinds ?? [] {
            out.line("  " + k.kind.padding(toLength: 14, withPad: " ", startingAt: 0) + String(format: " x%-3d fwd %8.1f ms  fwd+bwd %8.1f ms  %6.1f GFLOP/s  %4.0f %% of the step",
                            k.layers, k.forward_ms, k.forward_backward_ms, k.gflops, 100 * k.share_of_step)
                     + (k.forward_backward_ms_im2col.map { String(format: "  (im2col fwd+bwd %.1f ms: onednn/im2col %.2f)", $0, k.forward_backward_ms / $0) } ?? ""))
        }
        if let layerTimes {
            out.line("  slowest layers (forward + backward alone; all of them in --json \"layers\"):")
            for l in layerTimes.sorted(by: { $0.forward_backward_ms > $1.forward_backward_ms }).prefix(5) {
                out.line(String(format: "    %@ %@ %@: %.1f ms, %.1f GFLOP/s, %@", l.name, l.kind,
                                l.input_shape.map(String.init).joined(separator: "x"), l.forward_backward_ms, l.gflops,
                                l.implementation))
            }
        }
        if let stepsByBackend, let ratio {
            out.line(String(format: "conv backends, same run, alternating: onednn %.1f ms, im2col %.1f ms: onednn/im2col %.3f",
                            stepsByBackend["onednn"]!, stepsByBackend["im2col"]!, ratio))
        }
        if let other { out.line(String(format: "  other (BN, activations, pooling, fake-quant, loss, update) %.1f ms", other)) }
        if options.json { try printJSON(report) }
        withExtendedLifetime(ptqSearch) {}
    }
}
