// `dqss ptq`: post-training quantization of a zoo model with one (or several) of the four PTQ
// candidates of ALGORITHMS.md §3, then top-1 on a labelled split.
//
//   dqss ptq --model resnet20 --weights akamaster_resnet20.safetensors --data ../shared/datasets/cifar10 \
//            --method maxabs|kl|easyquant|admm (comma list or "all") [--bits 8] [--weight-bits B] \
//            [--act-bits B] [--calib 256] [--seed S] [--split test] [--json] [--save-thresholds FILE]
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
        abstract: "Calibrate a pretrained model with a PTQ candidate (Max_Abs, KL, EQ, ADMM) and evaluate it.",
        discussion: "Models: \(ModelZoo.names.joined(separator: ", ")).")

    @Option(help: "Model name (see the list below).")
    var model: String

    @Option(help: "Weights file (.safetensors, PyTorch state_dict names).")
    var weights: String

    @Option(help: "Dataset directory (CIFAR-10: the folder holding manifest.json).")
    var data: String

    @Option(help: "PTQ candidate: maxabs, kl, easyquant, admm; a comma-separated list; or all.")
    var method: String

    @Option(help: "Bit width of weights and activations (overridden by --weight-bits / --act-bits).")
    var bits: Int = 8

    @Option(help: "Weight bit width.")
    var weightBits: Int?

    @Option(help: "Activation bit width.")
    var actBits: Int?

    @Option(help: "Number of calibration images.")
    var calib: Int = 256

    @Option(help: "Seed of the calibration-image draw.")
    var seed: UInt64 = 0

    @Option(help: "Split the calibration images are drawn from.")
    var calibSplit: String = "train"

    @Option(help: "Split to evaluate on.")
    var split: String = "test"

    @Option(help: "Evaluate only the first N images of the split.")
    var limit: Int?

    @Option(help: "Images per forward pass (evaluation).")
    var batch: Int = 200

    @Option(help: "Images per forward pass during calibration (EQ evaluates its grid on such batches).")
    var calibBatch: Int = 64

    @Flag(help: "Quantize every activation as signed (TensorRT INT8); default: unsigned after ReLU.")
    var signedActivations = false

    @Option(help: "EQ: use only the first M calibration images (default: all).")
    var eqImages: Int?

    @Option(help: "KL target bins nq for unsigned activations (128, or 256 as pytorch-quantization).")
    var klUnsignedBins: Int = 128

    @Option(help: ArgumentHelp(
        "Weight thresholds from this candidate for every evaluated method (activations keep their own).",
        discussion: "Separates the two sides, e.g. --method kl --weight-method maxabs: KL activations, Max_Abs weights."))
    var weightMethod: String?

    @Flag(help: "Also evaluate the FP32 network.")
    var fp32 = false

    @Option(help: "Write every layer's thresholds (per method) as JSON to this file.")
    var saveThresholds: String?

    @OptionGroup var threading: ThreadOptions

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    @Flag(help: "No progress on stderr.")
    var quiet = false

    @Flag(help: "Print one Markdown table row: model | setting | FP32 (with --fp32) | each method's top-1 | EQ seconds.")
    var markdown = false

    var methods: [PTQMethod] {
        get throws {
            if method == "all" { return PTQMethod.allCases }
            return try method.split(separator: ",").map { name in
                guard let m = PTQMethod(named: String(name)) else {
                    throw ValidationError("--method: unknown candidate \"\(name)\" (maxabs, kl, easyquant, admm, all)")
                }
                return m
            }
        }
    }

    func validate() throws {
        for (flag, b) in [("--bits", bits), ("--weight-bits", weightBits ?? bits), ("--act-bits", actBits ?? bits)]
        where !(2...8).contains(b) {
            throw ValidationError("\(flag) must be in 2...8 (got \(b))")
        }
        if calib < 1 { throw ValidationError("--calib must be at least 1 (got \(calib))") }
        if batch < 1 { throw ValidationError("--batch must be at least 1 (got \(batch))") }
        if calibBatch < 1 { throw ValidationError("--calib-batch must be at least 1 (got \(calibBatch))") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1 (got \(limit))") }
        if let eqImages, eqImages < 1 { throw ValidationError("--eq-images must be at least 1 (got \(eqImages))") }
        if ![128, 256].contains(klUnsignedBins) {
            throw ValidationError("--kl-unsigned-bins must be 128 or 256 (got \(klUnsignedBins))")
        }
        if try methods.isEmpty { throw ValidationError("--method: no candidate given") }
        if json && markdown { throw ValidationError("--json and --markdown both print on stdout: choose one") }
        _ = try weightOverride
    }

    var weightOverride: PTQMethod? {
        get throws {
            guard let weightMethod else { return nil }
            guard let m = PTQMethod(named: weightMethod) else {
                throw ValidationError("--weight-method: unknown candidate \"\(weightMethod)\" (maxabs, kl, easyquant, admm)")
            }
            return m
        }
    }

    func run() throws {
        threading.apply()
        // An unwritable --save-thresholds is reported now, not after the calibration.
        if let saveThresholds {
            do { try AtomicFile.prepareDirectory(URL(fileURLWithPath: saveThresholds).deletingLastPathComponent()) } catch {
                throw ValidationError("--save-thresholds: cannot write \(saveThresholds): \(error)")
            }
        }
        let log = StderrProgress(quiet: quiet)
        let methods = try self.methods
        let weightOverride = try self.weightOverride
        let gathered = methods + (weightOverride.map { methods.contains($0) ? [] : [$0] } ?? [])
        let settings = PTQSettings(weightBits: weightBits ?? bits, activationBits: actBits ?? bits,
                                   signedActivations: signedActivations, eqMaxImages: eqImages,
                                   klUnsignedBins: klUnsignedBins)
        let spec = try ModelZoo.spec(named: model)
        let weightsURL = URL(fileURLWithPath: weights)
        let network = try spec.load(weights: weightsURL)
        let (norm, normSource) = try spec.normalization(forWeights: weightsURL)
        log("normalisation: mean \(norm.mean) std \(norm.std) (\(normSource))\n")
        let dataURL = URL(fileURLWithPath: data)
        let calibSource = try ClassificationSource.open(dataset: spec.dataset, directory: dataURL, split: calibSplit,
                                                        normalization: norm)
        let testSource = try ClassificationSource.open(dataset: spec.dataset, directory: dataURL, split: split,
                                                       normalization: norm)
        for (s, name) in [(calibSource, calibSplit), (testSource, split)] where s.imageShape != spec.inputShape {
            throw ValidationError("\(model) expects images \(spec.inputShape), split \"\(name)\" has \(s.imageShape)")
        }
        guard calib <= calibSource.count else {
            throw ValidationError("--calib \(calib) exceeds the \(calibSource.count) images of split \"\(calibSplit)\"")
        }

        // Calibration images: a seeded draw without replacement (their order does not matter: every
        // calibrator is invariant to it).
        var rng = RNG(seed: seed)
        let chosen = Array(rng.permutation(calibSource.count).prefix(calib))
        let batches = ClassificationSource.batches(of: try calibSource.gather(chosen).images, size: calibBatch)

        let calibration = PTQCalibration(model: network, settings: settings)
        let calibStart = Date()
        log("\(model): \(calibration.points.count) quantized layers, W\(settings.weightBits)A\(settings.activationBits), " +
            "\(calib) calibration images from \(calibSplit) (seed \(seed))\n")
        calibration.gather(batches: batches, methods: gathered) { log($0 + "\n") }
        let gatherSeconds = Date().timeIntervalSince(calibStart)
        let unsignedCount = calibration.points.indices.filter { calibration.activationUnsigned($0) }.count
        log("activations: \(unsignedCount) unsigned, \(calibration.points.count - unsignedCount) signed\n")

        var assignments: [(PTQMethod, [LayerQuantization], Double)] = []
        for m in gathered {
            let start = Date()
            let a = try calibration.assignments(for: m) { i, name in
                if m == .easyQuant {
                    log(String(format: "\r%@ thresholds: layer %d/%d %@ (%.0f s)", m.paperName, i + 1,
                               calibration.points.count, name, Date().timeIntervalSince(start)) + "\u{1B}[K")
                }
            }
            let seconds = Date().timeIntervalSince(start)
            if m == .easyQuant { log("\n") }
            log(String(format: "%@ thresholds: %.1f s\n", m.paperName, seconds))
            assignments.append((m, a, seconds))
        }
        calibration.releaseInputs()

        if let saveThresholds {
            let file = ThresholdsDocument(model: model, weights: weightsURL.path, calibrationSplit: calibSplit,
                                          calibrationImages: calib, seed: seed, weightBits: settings.weightBits,
                                          activationBits: settings.activationBits, signedActivations: signedActivations,
                                          methods: Dictionary(uniqueKeysWithValues: assignments.map { ($0.0.rawValue, $0.1) }))
            do {
                // Temporary file + rename: a full disk leaves the previous file whole, never truncated JSON.
                try file.writeJSON(to: URL(fileURLWithPath: saveThresholds))
            } catch {
                throw ValidationError("--save-thresholds: cannot write \(saveThresholds): \(error)")
            }
            log("thresholds written to \(saveThresholds)\n")
        }

        // --weight-method: every evaluated method takes its weight thresholds from that candidate.
        if let w = weightOverride, let source = assignments.first(where: { $0.0 == w })?.1 {
            assignments = assignments.filter { methods.contains($0.0) }.map { m, a, seconds in
                (m, zip(a, source).map { layer, wl in
                    var l = layer
                    l.thresholds.weight = wl.thresholds.weight
                    return l
                }, seconds)
            }
        }
        let weightSuffix = weightOverride.map { " (weights \($0.paperName))" } ?? ""
        let weightTag = weightOverride.map { "+w:\($0.rawValue)" } ?? ""
        let total = min(limit ?? testSource.count, testSource.count)
        func evaluate(_ label: String) throws -> ClassifierResult {
            let r = try evaluateTop1(network, total: total, batchSize: batch, batch: testSource.batch,
                                           progress: quiet ? nil : { done, seconds in
                log("\r\(model) \(label) \(split): \(done)/\(total) images, \(Int(Double(done) / max(seconds, 1e-9))) images/s")
            })
            log("\n")
            return r
        }

        var reports: [PTQReport] = []
        func report(_ label: String, _ r: ClassifierResult, calibrationSeconds: Double, method: String,
                    wBits: Int?, aBits: Int?) -> PTQReport {
            PTQReport(model: model, weights: weightsURL.path, data: data, split: split, correct: r.correct,
                      total: r.total, top1: r.top1, seconds: r.seconds,
                      imagesPerSecond: Double(r.total) / max(r.seconds, 1e-9), threads: Threads.count, batch: batch,
                      normalization: .init(mean: norm.mean, std: norm.std, source: normSource),
                      method: method, weightBits: wBits, activationBits: aBits,
                      signedActivations: signedActivations, calibrationImages: calib, calibrationSplit: calibSplit,
                      seed: seed, calibrationSeconds: calibrationSeconds)
        }
        if fp32 {
            QuantizedModel.removeHooks(calibration.points)
            let r = try evaluate("FP32")
            reports.append(report("FP32", r, calibrationSeconds: 0, method: "fp32", wBits: nil, aBits: nil))
        }
        for (m, a, seconds) in assignments {
            QuantizedModel.install(calibration.points, assignments: a)
            let r = try evaluate("\(m.paperName)\(weightSuffix) W\(settings.weightBits)A\(settings.activationBits)")
            reports.append(report(m.paperName, r, calibrationSeconds: gatherSeconds + seconds, method: m.rawValue + weightTag,
                                  wBits: settings.weightBits, aBits: settings.activationBits))
        }
        QuantizedModel.removeHooks(calibration.points)

        if markdown {
            var cells = [model, "W\(settings.weightBits)A\(settings.activationBits)"]
            if !fp32 { cells.append("″") }   // FP32 evaluated on an earlier row
            cells += reports.map { String(format: "%.2f", $0.top1) }
            if let eq = assignments.first(where: { $0.0 == .easyQuant }) {
                cells.append(String(format: "%.0f s", eq.2))
            }
            print("| " + cells.joined(separator: " | ") + " |")
        } else if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let out: Data = reports.count == 1 ? try encoder.encode(reports[0])
                                                : try encoder.encode(["results": reports])
            print(String(decoding: out, as: UTF8.self))
        } else {
            for r in reports {
                let setting = r.weightBits.map { "W\($0)A\(r.activationBits!)" } ?? "FP32"
                print(String(format: "%@ %@ %@ on %@/%@: top-1 %.2f %% (%d / %d)", model, r.method, setting,
                             data, split, r.top1, r.correct, r.total))
            }
        }
    }
}

/// The --json output of `dqss ptq`: the keys of `dqss eval` plus the method, bit widths and calibration.
struct PTQReport: Encodable {
    struct Norm: Encodable { var mean: [Float]; var std: [Float]; var source: String }
    var model: String
    var weights: String
    var data: String
    var split: String
    var correct: Int
    var total: Int
    /// Percent.
    var top1: Double
    var seconds: Double
    var imagesPerSecond: Double
    var threads: Int
    var batch: Int
    var normalization: Norm
    /// "maxabs", "kl", "easyquant", "admm", or "fp32".
    var method: String
    var weightBits: Int?
    var activationBits: Int?
    var signedActivations: Bool
    var calibrationImages: Int
    var calibrationSplit: String
    var seed: UInt64
    /// Statistics passes plus this method's threshold computation.
    var calibrationSeconds: Double

    enum CodingKeys: String, CodingKey {
        case model, weights, data, split, correct, total, top1, seconds, threads, batch, normalization, method, seed
        case imagesPerSecond = "images_per_second"
        case weightBits = "weight_bits"
        case activationBits = "activation_bits"
        case signedActivations = "signed_activations"
        case calibrationImages = "calibration_images"
        case calibrationSplit = "calibration_split"
        case calibrationSeconds = "calibration_seconds"
    }
}

/// Unbuffered progress on stderr (silent with --quiet).
private struct StderrProgress {
    let quiet: Bool
    func callAsFunction(_ s: String) {
        if !quiet { StandardErrorProgress.write(s) }
    }
}
