// `dqss ptq`: post-training quantization of a zoo model with one (or several) of the PTQ candidates
// (ALGORITHMS.md §3's four, MSE, percentile, AdaRound), then top-1 on a labelled split.
//
//   dqss ptq --model resnet20 --weights akamaster_resnet20.safetensors --data ../shared/datasets/cifar10 \
//            --method maxabs|kl|easyquant|admm|mse|percentile:P|adaround[:B] (comma list or "all") [--bits 8] [--weight-bits B] \
//            [--act-bits B] [--calib 256] [--seed S] [--split test] [--limit N] [--eval-batch 200] \
//            [--num-classes N] [--json | --markdown] [--save-thresholds FILE]
//
// Calibration: `--calib` images drawn without replacement from `--calib-split` (default train) by a
// seeded permutation, passed through the FP32 network (one pass, two when KL/EQ need histograms).
// Every Conv2d/Linear gets an input and a weight quantizer (§2; first and last layers included, §2.2).
// Activations are unsigned where every calibration value was ≥ 0 (post-ReLU), signed otherwise;
// `--signed-activations` forces signed (TensorRT). Several methods share one calibration pass.
// Progress on stderr; the result on stdout (one JSON object with --json).

import ArgumentParser
import Foundation
import DQSSDistributed
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSCheckpoint
import DQSSRun

struct PTQCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ptq",
        abstract: "Calibrate a pretrained model with a PTQ candidate (Max_Abs, KL, EQ, ADMM, MSE, percentile, AdaRound) and evaluate it.",
        discussion: "Models: \(ModelZoo.names.joined(separator: ", ")).")

    @Option(help: ArgumentHelp(
        "PTQ candidate: maxabs, kl, easyquant, admm, mse, percentile:P, adaround[:B] (or the labels Max_Abs, KL, EQ, ADMM, MSE, P99.99, AdaRound); a comma-separated list; or all (the paper's four).",
        discussion: "percentile:P takes P in (0, 100], e.g. percentile:99.9, percentile:99.99, percentile:99.999. adaround:B learns the weights' rounding (AdaRound) on base candidate B's thresholds (default mse); --adaround-iterations sets its length."),
            transform: PTQMethodSelection.parse)
    var method: PTQMethodSelection

    @Option(help: ArgumentHelp(
        "Weight thresholds from this candidate for every evaluated method (activations keep their own).",
        discussion: "Separates the two sides, e.g. --method kl --weight-method maxabs: KL activations, Max_Abs weights."),
            transform: PTQMethods.parseOne)
    var weightMethod: PTQMethod?

    @Flag(help: "Also evaluate the FP32 network.")
    var fp32 = false

    @Option(help: "Write every layer's thresholds (per method) as JSON to this file.")
    var saveThresholds: String?

    @OptionGroup var options: PTQRunOptions

    func run() throws {
        let o = options
        o.threading.apply()
        // An unwritable --save-thresholds is reported now, not after the calibration.
        if let saveThresholds {
            do { try AtomicFile.prepareDirectory(URL(fileURLWithPath: saveThresholds).deletingLastPathComponent()) } catch {
                throw ValidationError("--save-thresholds: cannot write \(saveThresholds): \(error)")
            }
        }
        let log = o.output.progress
        let model = o.network.model, split = o.evaluation.split, calibSplit = o.calibSplit, calib = o.calibration.calib
        let methods = method.methods
        let gathered = methods + (weightMethod.map { methods.contains($0) ? [] : [$0] } ?? [])
        let settings = o.ptqSettings
        let classifier = try LoadedClassifier(o.network, head: o.head)
        // The data before the (possibly large) weights, as `dqss eval`: a wrong directory or split at once.
        let calibSource = try classifier.open(calibSplit, of: o.data)
        let testSource = try classifier.open(split, of: o.data)
        let network = try classifier.load()
        let norm = classifier.normalization
        log.write("normalisation: mean \(norm.mean) std \(norm.std) (\(classifier.normalizationSource))\n")
        guard calib <= calibSource.count else {
            throw ValidationError("--calib \(calib) exceeds the \(calibSource.count) images of split \"\(calibSplit)\"")
        }

        // Calibration images: a seeded draw without replacement (their order does not matter: every
        // calibrator is invariant to it).
        var rng = RNG(seed: o.seed)
        let chosen = Array(rng.permutation(calibSource.count).prefix(calib))
        let batches = ClassificationSource.batches(of: try calibSource.gather(chosen).images, size: o.calibration.calibBatch)

        let calibration = PTQCalibration(model: network, settings: settings)
        let calibStart = Date()
        log.write("\(model): \(calibration.points.count) quantized layers, \(settings.label), " +
                     "\(calib) calibration images from \(calibSplit) (seed \(o.seed))\n")
        calibration.gather(batches: batches, methods: gathered) { log.line($0) }
        let gatherSeconds = Date().timeIntervalSince(calibStart)
        let unsignedCount = calibration.points.indices.filter { calibration.activationUnsigned($0) }.count
        log.line("activations: \(unsignedCount) unsigned, \(calibration.points.count - unsignedCount) signed")

        var assignments: [(PTQMethod, [LayerQuantization], Double)] = []
        for m in gathered {
            let start = Date()
            let a = try calibration.assignments(for: m, progress: { i, name in
                if m == .easyQuant {
                    log.write(String(format: "\r%@ thresholds: layer %d/%d %@ (%.0f s)", m.paperName, i + 1,
                                        calibration.points.count, name, Date().timeIntervalSince(start)) + "\u{1B}[K")
                }
            }, detail: { i, message in
                log.line(String(format: "%@ layer %d/%d %@: %@", m.paperName, i + 1, calibration.points.count,
                                calibration.points[i].name, message))
            })
            let seconds = Date().timeIntervalSince(start)
            if m == .easyQuant { log.write("\n") }
            log.line(String(format: "%@ thresholds: %.1f s", m.paperName, seconds))
            assignments.append((m, a, seconds))
        }
        calibration.releaseInputs()

        if let saveThresholds {
            let file = ThresholdsDocument(model: model, weights: classifier.weights.path, calibrationSplit: calibSplit,
                                          calibrationImages: calib, seed: o.seed, weightBits: settings.weightBits,
                                          activationBits: settings.activationBits, signedActivations: settings.signedActivations,
                                          methods: Dictionary(uniqueKeysWithValues: assignments.map { ($0.0.rawValue, $0.1) }))
            do {
                // Temporary file + rename: a full disk leaves the previous file whole, never truncated JSON.
                try file.writeJSON(to: URL(fileURLWithPath: saveThresholds))
            } catch {
                throw ValidationError("--save-thresholds: cannot write \(saveThresholds): \(error)")
            }
            log.line("thresholds written to \(saveThresholds)")
        }

        // --weight-method: every evaluated method takes its weight thresholds from that candidate.
        if let w = weightMethod, let source = assignments.first(where: { $0.0 == w })?.1 {
            assignments = assignments.filter { methods.contains($0.0) }.map { m, a, seconds in
                (m, zip(a, source).map { layer, wl in
                    var l = layer
                    l.thresholds.weight = wl.thresholds.weight
                    l.thresholds.weightChannels = wl.thresholds.weightChannels
                    l.thresholds.weightRounding = wl.thresholds.weightRounding
                    return l
                }, seconds)
            }
        }
        let weightSuffix = weightMethod.map { " (weights \($0.paperName))" } ?? ""
        let weightTag = weightMethod.map { "+w:\($0.rawValue)" } ?? ""
        let total = o.evaluation.total(of: testSource.count)
        func evaluate(_ label: String) throws -> ClassifierResult {
            try evaluateWithProgress(network, source: testSource, total: total, batch: o.evaluation.batch,
                                     label: "\(model) \(label) \(split)", quiet: o.output.quiet)
        }

        var reports: [ClassificationReport] = []
        func report(_ r: ClassifierResult, calibrationSeconds: Double, method: String, wBits: Int?, aBits: Int?) -> ClassificationReport {
            var report = ClassificationReport(model: model, weights: classifier.weights.path, data: o.data.data, split: split,
                                              result: r, batch: o.evaluation.batch, normalization: classifier.normalizationReport)
            (report.method, report.weightBits, report.activationBits) = (method, wBits, aBits)
            (report.signedActivations, report.calibrationImages, report.calibrationSplit) = (settings.signedActivations, calib, calibSplit)
            (report.seed, report.calibrationSeconds) = (o.seed, calibrationSeconds)
            report.weightGranularity = wBits == nil ? nil : settings.weightGranularity.rawValue
            return report
        }
        if fp32 {
            QuantizedModel.removeHooks(calibration.points)
            let r = try evaluate("FP32")
            reports.append(report(r, calibrationSeconds: 0, method: "fp32", wBits: nil, aBits: nil))
        }
        for (m, a, seconds) in assignments {
            QuantizedModel.install(calibration.points, assignments: a)
            let r = try evaluate("\(m.paperName)\(weightSuffix) \(settings.label)")
            reports.append(report(r, calibrationSeconds: gatherSeconds + seconds, method: m.rawValue + weightTag,
                                  wBits: settings.weightBits, aBits: settings.activationBits))
        }
        QuantizedModel.removeHooks(calibration.points)

        if o.output.markdown {
            var cells = [model, "\(settings.label)"]
            if !fp32 { cells.append("″") }   // FP32 evaluated on an earlier row
            cells += reports.map { String(format: "%.2f", $0.top1) }
            if let eq = assignments.first(where: { $0.0 == .easyQuant }) {
                cells.append(String(format: "%.0f s", eq.2))
            }
            // AdaRound's own time (the learned rounding of every layer; its base's thresholds included).
            let ada = assignments.filter { if case .adaRound = $0.0 { true } else { false } }
            if !ada.isEmpty { cells.append(ada.map { String(format: "%.0f s", $0.2) }.joined(separator: ", ")) }
            print("| " + cells.joined(separator: " | ") + " |")
        } else if o.output.json {
            if reports.count == 1 { try printJSON(reports[0], snakeCase: true) } else { try printJSON(["results": reports], snakeCase: true) }
        } else {
            for r in reports {
                let setting = r.weightBits.map { "W\($0)A\(r.activationBits ?? $0)" } ?? "FP32"
                print(String(format: "%@ %@ %@ on %@/%@: top-1 %.2f %% (%d / %d)", model, r.method ?? "fp32", setting,
                             o.data.data, split, r.top1, r.correct, r.total))
            }
        }
    }
}
