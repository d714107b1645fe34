// `dqss sr-eval`: FP32 PSNR/SSIM of a pretrained x4 super-resolution network on test sets.
//
//   dqss sr-eval --model imdn --weights ../shared/datasets/models/sr/imdn_x4.safetensors \
//                --data ../shared/datasets/sr [--sets Set5,Set14] [--tile N --tile-overlap M] \
//                [--save-png DIR] [--threads N] [--json] [--quiet]
//
// DIR holds one folder per test set (`<set>/x4/*_{HR,LR}.png`). Protocol (SRBenchmark): the shipped LR
// images as input, 8-bit SR output, Y channel (BT.601), 4-pixel shave, PSNR/SSIM per image averaged per
// set. `--json` prints {"model":…, "sets": {"Set5": {"psnr": …, "ssim": …, "psnr_rounded_y": …,
// "images": […]}, …}}. Progress (one line per image) on stderr.

import ArgumentParser
import Foundation
import DQSSTensor
import DQSSModels
import DQSSRun

struct SREvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sr-eval",
        abstract: "PSNR/SSIM (Y channel) of a pretrained super-resolution model on test sets.",
        discussion: "Models: \(SRModelZoo.names.joined(separator: ", ")).")

    @OptionGroup var network: NetworkOptions
    @OptionGroup var testSets: SRTestSetOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        threading.apply()
        let spec = try SRModelZoo.spec(named: network.model)
        let benchmark = try SRBenchmark(directory: URL(fileURLWithPath: testSets.data), scale: spec.scale, names: testSets.setNames)
        let model = try spec.load(weights: network.weightsURL)
        let start = Date()
        let progress = output.progress
        let scores = try benchmark.evaluate(model, tile: testSets.tile, overlap: testSets.tileOverlap ?? spec.receptiveRadius ?? 16,
                                            saveDirectory: testSets.savePng.map { URL(fileURLWithPath: $0) },
                                            progress: output.quiet ? nil : { set, stem, seconds in
            progress.line(String(format: "%@/%@: %.2f s", set, stem, seconds))
        })
        let seconds = Date().timeIntervalSince(start)
        if output.json {
            try printJSON(SREvalReport(model: network.model, weights: network.weights, data: testSets.data, scale: spec.scale,
                                       sets: Dictionary(uniqueKeysWithValues: scores.map { ($0.name, $0) }),
                                       seconds: seconds, threads: Threads.count))
        } else {
            for s in scores {
                print(String(format: "%@ x%d %@ (%d images): PSNR-Y %.4f dB, SSIM-Y %.4f (PSNR with rounded Y %.4f)",
                             network.model, spec.scale, s.name, s.images.count, s.psnr, s.ssim, s.psnrRoundedY))
            }
        }
    }
}

/// The test sets of the SR commands (`sr-eval`, `search --task sr`) and how the network runs on them.
struct SRTestSetOptions: ParsableArguments {
    @Option(help: "Directory with one folder per test set (e.g. ../shared/datasets/sr).")
    var data: String

    @Option(help: "Comma-separated test sets (default: every folder in --data).")
    var sets: String?

    @Option(help: "LR tile size for tiled inference (default: whole images).")
    var tile: Int?

    @Option(help: "LR pixels of context around each tile (default: the model's receptive radius, else 16).")
    var tileOverlap: Int?

    @Option(help: "Write the SR outputs as PNG files under this directory (sr-eval: <dir>/<set>/<stem>_SR.png; a search: <dir>/<row>/<set>/).")
    var savePng: String?

    var setNames: [String]? { sets.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } } }

    func validate() throws {
        try requireAtLeast(1, "--tile", tile)
        try requireAtLeast(0, "--tile-overlap", tileOverlap)
    }
}

/// The --json output of `dqss sr-eval`.
private struct SREvalReport: Encodable {
    var model: String
    var weights: String
    var data: String
    var scale: Int
    var sets: [String: SRSetScore]
    var seconds: Double
    var threads: Int
}
