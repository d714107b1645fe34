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
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSRun

struct SREvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sr-eval",
        abstract: "PSNR/SSIM (Y channel) of a pretrained super-resolution model on test sets.",
        discussion: "Models: \(SRModelZoo.names.joined(separator: ", ")).")

    @Option(help: "SR model name (see Models above).")
    var model: String

    @Option(help: "Weights file (.safetensors, PyTorch state_dict names).")
    var weights: String

    @Option(help: "Directory with one folder per test set (e.g. ../shared/datasets/sr).")
    var data: String

    @Option(help: "Comma-separated test sets (default: every folder in --data).")
    var sets: String?

    @Option(help: "LR tile size for tiled inference (default: whole images).")
    var tile: Int?

    @Option(help: "LR pixels of context around each tile (default: the model's receptive radius, else 16).")
    var tileOverlap: Int?

    @Option(help: "Write the SR outputs as PNG files under this directory (<dir>/<set>/<stem>_SR.png).")
    var savePng: String?

    @OptionGroup var threading: ThreadOptions

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    @Flag(help: "No progress on stderr.")
    var quiet = false

    func validate() throws {
        if let tile, tile < 1 { throw ValidationError("--tile must be at least 1 (got \(tile))") }
        if let tileOverlap, tileOverlap < 0 { throw ValidationError("--tile-overlap must be ≥ 0 (got \(tileOverlap))") }
    }

    func run() throws {
        threading.apply()
        let spec = try SRModelZoo.spec(named: model)
        let benchmark = try SRBenchmark(directory: URL(fileURLWithPath: data), scale: spec.scale,
                                        names: sets.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } })
        let network = try spec.load(weights: URL(fileURLWithPath: weights))
        let start = Date()
        let scores = try benchmark.evaluate(network, tile: tile, overlap: tileOverlap ?? spec.receptiveRadius ?? 16,
                                            saveDirectory: savePng.map { URL(fileURLWithPath: $0) },
                                            progress: quiet ? nil : { set, stem, seconds in
            FileHandle.standardError.write(Data(String(format: "%@/%@: %.2f s\n", set, stem, seconds).utf8))
        })
        let seconds = Date().timeIntervalSince(start)
        if json {
            let report = SREvalReport(model: model, weights: weights, data: data, scale: spec.scale,
                                      sets: Dictionary(uniqueKeysWithValues: scores.map { ($0.name, $0) }),
                                      seconds: seconds, threads: Threads.count)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            for s in scores {
                print(String(format: "%@ x%d %@ (%d images): PSNR-Y %.4f dB, SSIM-Y %.4f (PSNR with rounded Y %.4f)",
                             model, spec.scale, s.name, s.images.count, s.psnr, s.ssim, s.psnrRoundedY))
            }
        }
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
