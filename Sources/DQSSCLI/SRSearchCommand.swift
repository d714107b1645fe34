// `dqss sr-search`: the DQSS PTQ search for x4 super-resolution (SRSearchRun), also reachable as
// `dqss search --task sr` once that command has a task switch.
//
//   dqss sr-search --model imdn --weights ../shared/datasets/models/sr/imdn_x4.safetensors \
//       --data ../shared/datasets/sr --calib-data ../shared/datasets/cifar10 [--sets Set5,Set14] \
//       [--candidates maxabs,kl,easyquant,admm] [--bits 8] [--calib 256] [--val-pairs 256] [--patch 32] [--eq-images 64] \
//       [--target hr|fp32] [--schedule annealed|paper] [--epochs N] [--batch N] [--lr X] [--temperature TAU_END] [--seed S] \
//       [--save-png DIR] [--out DIR] [--json] [--quiet]

import ArgumentParser
import Foundation
import DQSSTensor
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSRun

struct SRSearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sr-search",
        abstract: "DQSS PTQ search for an x4 SR network: FP32, each uniform candidate, DQSS-None, DQSS (PSNR/SSIM per set).",
        discussion: "Models: \(SRModelZoo.names.joined(separator: ", ")).")

    @Option(help: "SR model name.") var model: String
    @Option(help: "Weights file (.safetensors).") var weights: String
    @Option(help: "Directory with one folder per test set (e.g. ../shared/datasets/sr).") var data: String
    @Option(help: "CIFAR-10 folder whose train split gives the HR calibration patches (the test sets never are).")
    var calibData: String
    @Option(help: "Comma-separated test sets (default: every folder in --data).") var sets: String?
    @Option(help: "Candidates in branch order: maxabs, kl, easyquant, admm.") var candidates: String = "maxabs,kl,easyquant,admm"
    @Option(help: "Bit width of weights and activations.") var bits: Int = 8
    @Option(help: "Number of calibration HR/LR pairs.") var calib: Int = 256
    @Option(help: "Search target: hr (L1 to the HR patch, default) or fp32 (L1 to the FP32 network's output).")
    var target: String = "hr"
    @Option(help: "Held-out validation pairs (CIFAR-10 train records disjoint from the calibration ones) for the selection; 0 disables.")
    var valPairs: Int = 256
    @Option(help: "Greedy refinement passes after the selection (§6.2); 0: selection only.")
    var refinePasses: Int = 1
    @Option(help: "HR patch size (multiple of the scale, at most 32 for CIFAR-10 images).") var patch: Int = 32
    @Option(help: "EQ: use only the first M calibration pairs (default: all).") var eqImages: Int?
    @Option(help: "Search schedule: annealed (§6.2, default) or paper (§6).") var schedule: String = "annealed"
    @Option(help: "Search epochs (default: the schedule's).") var epochs: Int?
    @Option(help: "Search batch size (default: the schedule's).") var batch: Int?
    @Option(help: "Learning rate of alpha/beta (default: the schedule's).") var lr: Float?
    @Option(help: "Final softmax temperature of the annealed schedule.") var temperature: Double?
    @Option(help: "Seed of the calibration draw and of the search's batch order.") var seed: UInt64 = 0
    @Option(help: "Pairs per calibration forward pass.") var calibBatch: Int = 64
    @Option(help: "LR tile size for evaluation (default: whole images).") var tile: Int?
    @Option(help: "LR context pixels around each tile.") var tileOverlap: Int?
    @Flag(help: "Quantize every activation as signed (TensorRT INT8).") var signedActivations = false
    @Option(help: "Write every row's SR outputs as PNG under DIR/<row>/<set>/.") var savePng: String?
    @Option(help: "Write sr-search.json (the full report) into this directory.") var out: String?
    @OptionGroup var threading: ThreadOptions
    @Flag(help: "Print one JSON object on stdout.") var json = false
    @Flag(help: "No progress on stderr.") var quiet = false

    func validate() throws {
        if !(2...8).contains(bits) { throw ValidationError("--bits must be in 2...8 (got \(bits))") }
        if calib < 1 { throw ValidationError("--calib must be at least 1 (got \(calib))") }
        if target != "hr" && target != "fp32" { throw ValidationError("--target must be hr or fp32 (got \(target))") }
        if valPairs < 0 { throw ValidationError("--val-pairs must be at least 0 (got \(valPairs))") }
        if refinePasses < 0 { throw ValidationError("--refine-passes must be at least 0 (got \(refinePasses))") }
        if calibBatch < 1 { throw ValidationError("--calib-batch must be at least 1 (got \(calibBatch))") }
        if SearchSchedule(rawValue: schedule) == nil { throw ValidationError("--schedule must be annealed or paper (got \(schedule))") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1 (got \(epochs))") }
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1 (got \(batch))") }
        if let eqImages, eqImages < 1 { throw ValidationError("--eq-images must be at least 1 (got \(eqImages))") }
        if let temperature, !(temperature > 0 && temperature <= 1) { throw ValidationError("--temperature must be in (0, 1] (got \(temperature))") }
        if let lr, !(lr >= 0 && lr.isFinite) { throw ValidationError("--lr must be a finite number >= 0 (got \(lr))") }
        _ = try methods
    }

    var methods: [PTQMethod] { get throws { try PTQMethod.candidateList(candidates) } }

    func run() throws {
        threading.apply()
        var s = PTQSearchSettings.defaults(SearchSchedule(rawValue: schedule)!)
        if let epochs { s.epochs = epochs }
        if let batch { s.batchSize = batch }
        if let lr { s.lr = lr }
        if let temperature { s.temperatureEnd = temperature }
        s.seed = seed
        if let out { try prepareOutputDirectory(out) }
        let report = try SRSearchRun.search(SRSearchOptions(
            model: model, weights: weights, data: data, calibData: calibData,
            sets: sets.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } },
            methods: try methods,
            ptq: PTQSettings(weightBits: bits, activationBits: bits, signedActivations: signedActivations, eqMaxImages: eqImages),
            search: s, calib: calib, target: target, valPairs: valPairs, refinePasses: refinePasses, patch: patch, seed: seed, calibBatch: calibBatch, tile: tile, tileOverlap: tileOverlap,
            savePng: savePng, out: out, json: json, quiet: quiet))
        if let out { try report.write(toDirectory: out) }
        if json {
            try report.printJSON()
        } else {
            let names = report.candidates
            print(SRSearchRun.markdownTable(rows: report.rows, sets: report.setNames))
            print("")
            print("DQSS assignment (layers per candidate): activations " + names.map { "\($0) \(report.activationCounts[$0] ?? 0)" }.joined(separator: ", ")
                  + "; weights " + names.map { "\($0) \(report.weightCounts[$0] ?? 0)" }.joined(separator: ", "))
        }
    }
}
