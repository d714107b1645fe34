// `dqss search --task sr` (also `dqss sr-search`): the DQSS PTQ search for x4 super-resolution (SRSearchRun).
//
//   dqss search --mode ptq --task sr --model imdn --weights ../shared/datasets/models/sr/imdn_x4.safetensors \
//       --data ../shared/datasets/sr --calib-data ../shared/datasets/cifar10 [--sets Set5,Set14] \
//       [--candidates maxabs,kl,easyquant,admm[,mse,percentile:P]] [--bits 8] [--calib 256] [--val-images 256] [--patch 32] [--eq-images 64] \
//       [--target hr|fp32] [--schedule annealed|paper] [--search-epochs N] [--search-batch N] [--lr-theta X] [--temperature-end TAU_END] \
//       [--seed S] [--save-png DIR] [--out DIR] [--json] [--quiet]
//
// Renamed flags (old spellings still accepted, with a warning): --batch → --search-batch, --val-pairs →
// --val-images, --temperature → --temperature-end, --epochs → --search-epochs, --lr → --lr-theta.

import ArgumentParser
import Foundation
import DQSSModels
import DQSSRun

struct SRSearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sr-search",
        abstract: "DQSS PTQ search for an x4 SR network: FP32, each uniform candidate, DQSS-None, DQSS (PSNR/SSIM per set).",
        discussion: "Models: \(SRModelZoo.names.joined(separator: ", ")).")

    @OptionGroup var network: NetworkOptions
    @OptionGroup var testSets: SRTestSetOptions
    @Option(help: "CIFAR-10 folder whose train split gives the HR calibration patches (the test sets never are).")
    var calibData: String
    @OptionGroup var bits: PTQBitOptions
    @OptionGroup var calibration: CalibrationOptions
    @OptionGroup var search: SearchOptions
    @Option(help: "Search target: hr (L1 to the HR patch, default) or fp32 (L1 to the FP32 network's output).")
    var target: SRSearchTarget = .hr
    @Option(help: "HR patch size (multiple of the scale, at most 32 for CIFAR-10 images).") var patch: Int = 32
    @Option(help: "Seed of the calibration draw and of the search's batch order.") var seed: UInt64 = 0
    @Option(help: "Write sr-search.json (the full report) into this directory.") var out: String?
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .customLong("batch"), help: .hidden) var deprecatedBatch: Int?
    @Option(name: .customLong("val-pairs"), help: .hidden) var deprecatedValPairs: Int?

    /// --search-batch, or its old spelling --batch.
    var searchBatch: Int? { search.searchBatch ?? deprecatedBatch }
    /// --val-images, or its old spelling --val-pairs.
    var valImages: Int { search.valImages ?? deprecatedValPairs ?? 256 }

    func validate() throws {
        try DeprecatedSpelling.resolve(old: "--batch", deprecatedBatch, new: "--search-batch", search.searchBatch)
        try DeprecatedSpelling.resolve(old: "--val-pairs", deprecatedValPairs, new: "--val-images", search.valImages)
        try requireAtLeast(1, "--batch", deprecatedBatch)
        try requireAtLeast(0, "--val-pairs", deprecatedValPairs)
    }

    func run() throws {
        threading.apply()
        var s = search.settings(search.schedule, seed: seed)
        if let searchBatch { s.batchSize = searchBatch }
        if let out { try prepareOutputDirectory(out) }
        var srOptions = SRSearchOptions(
            model: network.model, weights: network.weights, data: testSets.data, calibData: calibData,
            sets: testSets.setNames, methods: search.candidates.methods, ptq: calibration.settings(bits),
            search: s, calib: calibration.calib, target: target.rawValue, valPairs: valImages,
            refinePasses: search.refinePasses, patch: patch, seed: seed, calibBatch: calibration.calibBatch,
            tile: testSets.tile, tileOverlap: testSets.tileOverlap,
            savePng: testSets.savePng, out: out, json: output.json, quiet: output.quiet)
        srOptions.refineStarts = search.refineFrom
        let report = try SRSearchRun.search(srOptions)
        if let out { try report.write(toDirectory: out) }
        if output.json {
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
