// `dqss prepare`: pack an image folder (class sub-folders of JPEG/PNG files) into N HDF5 shards that
// data-parallel ranks read one slice each (format: Sources/DQSSShards/ShardFormat.swift).
//
//   dqss prepare --input DIR --out DIR --shards N [--size 256] [--crop 224] [--seed 0] [--skip-bad]
//                [--threads N] [--json] [--quiet]
//
// Progress (images done, images/s, ETA) on stderr; the result on stdout, one JSON object with --json.
// Pick N as a multiple of the rank counts you will run with (e.g. 64 for 1, 2, 4, 8, 16, 32, 64 ranks):
// every rank then reads the same number of shards.

import ArgumentParser
import Foundation
import DQSSDistributed
import DQSSTensor
import DQSSShards
import DQSSData
import DQSSRun

struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Pack an image folder (class sub-folders of JPEG/PNG) into N HDF5 shards for data-parallel runs.",
        discussion: """
            Classes are the sorted sub-folder names. Images are decoded (libjpeg-turbo / libpng), the shorter \
            side resized to --size (antialiased bilinear), centre-cropped to --crop and stored as uint8 RGB; the \
            sorted file list is shuffled with --seed and cut into --shards files of equal size (±1).
            """)

    @Option(help: "Image folder: one sub-folder of .jpg/.jpeg/.png files per class.")
    var input: String

    @Option(help: "Output directory for shard-NNNNN-of-NNNNN.h5 (created; must not hold shards already).")
    var out: String

    @Option(help: "Number of shard files (a multiple of the rank counts you will use).")
    var shards: Int

    @Option(help: "Shorter side after resizing, in pixels.")
    var size: Int = 256

    @Option(help: "Side of the centre square kept, in pixels.")
    var crop: Int = 224

    @Option(help: "Seed of the shuffle before splitting into shards.")
    var seed: UInt64 = 0

    @Flag(help: "Leave out images that cannot be decoded (listed on stderr and in --json) instead of stopping.")
    var skipBad = false

    @Option(help: "Largest image accepted, in megapixels (width x height / 1e6), checked from the file's header before decoding; larger ones are bad images (see --skip-bad).")
    var maxMegapixels: Double = Double(PNGImage.defaultMaxPixels) / 1e6

    @OptionGroup var threading: ThreadOptions

    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(1, "--shards", shards)
        try requireAtLeast(1, "--crop", crop)
        if size < crop { throw ValidationError("--size \(size) must be at least --crop \(crop)") }
        if !(maxMegapixels > 0 && maxMegapixels <= 4_000) {
            throw ValidationError("--max-megapixels must be in (0, 4000] (got \(maxMegapixels))")
        }
    }

    func run() throws {
        threading.apply()
        let quiet = output.quiet
        let stderr = FileHandle.standardError
        let start = Date()
        let folder = try ImageFolder(root: URL(fileURLWithPath: input))
        if !quiet {
            stderr.write(Data("\(input): \(folder.items.count) images in \(folder.classes.count) classes, \(folder.ignoredFiles) other files ignored; \(shards) shards, resize \(size), crop \(crop), \(Threads.count) threads\n".utf8))
        }
        var options = ShardPacker.Options(shards: shards)
        options.resize = size; options.crop = crop; options.seed = seed; options.skipBad = skipBad
        options.maxPixels = Int(maxMegapixels * 1e6)
        var lastPrint = Date.distantPast
        let report = try ShardPacker.pack(folder, to: URL(fileURLWithPath: out), options: options) { done, total in
            let now = Date()
            guard !quiet, done == total || now.timeIntervalSince(lastPrint) >= 1 else { return }
            lastPrint = now
            let rate = Double(done) / max(now.timeIntervalSince(start), 1e-9)
            let eta = Int(Double(total - done) / max(rate, 1e-9))
            StandardErrorProgress.write(String(format: "\r%d/%d images, %.0f images/s, ETA %d:%02d ", done, total, rate, eta / 60, eta % 60))
        }
        let seconds = Date().timeIntervalSince(start)
        if !quiet {
            StandardErrorProgress.write("\n")
            for s in report.skipped { stderr.write(Data("skipped: \(s)\n".utf8)) }
        }
        if output.json {
            try printJSONObject([
                "input": input, "out": out, "shards": report.files.count,
                "files": report.files.map(\.lastPathComponent),
                "images_per_shard": report.shardSizes, "images": report.shardSizes.reduce(0, +),
                "classes": report.classes, "skipped": report.skipped, "ignored_files": report.ignoredFiles,
                "size": size, "crop": crop, "seed": seed, "pack_id": report.packID,
                "seconds": seconds, "threads": Threads.count,
            ])
        } else {
            print(String(format: "%d images, %d classes -> %d shards in %@ (%@ images each), %.1f s",
                         report.shardSizes.reduce(0, +), report.classes.count, report.files.count, out,
                         report.shardSizes.map(String.init).joined(separator: "/"), seconds))
        }
    }
}
