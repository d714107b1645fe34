// `dqss inspect CHECKPOINT [--json]`: what a checkpoint holds — model, task, step, config, optimizer
// settings, and the per-layer assignment table with θ values (Eq. 8 at the saved temperature).

import ArgumentParser
import Foundation
import DQSSCheckpoint
import DQSSRun

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a checkpoint's step, config and per-layer assignment with theta values.")

    @Argument(help: "A checkpoint file (ckpt-<step>.h5), or a checkpoint directory (its newest checkpoint).")
    var checkpoint: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        let url = try resolveCheckpointArgument(checkpoint)
        let (c, seal) = try CheckpointReader.readChecked(url)
        if let w = CheckpointReader.warning(seal, file: url.path) { FileHandle.standardError.write(Data((w + "\n").utf8)) }
        if output.json {
            try CheckpointSummaryDocument(c, file: url.path).printJSON()
        } else {
            print(CheckpointSummary.text(c, file: url.path))
        }
    }
}

/// A checkpoint file, or a directory meaning its newest readable checkpoint (damaged newer ones are
/// reported on stderr).
func resolveCheckpointArgument(_ path: String) throws -> URL {
    var isDirectory: ObjCBool = false
    let url = URL(fileURLWithPath: path)
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
        // A QAT --out directory: its final network (not a training checkpoint).
        if let network = CheckpointDirectory.finalNetwork(in: url) { return network }
        let (latest, skipped) = try CheckpointDirectory.latest(in: url)
        for s in skipped { FileHandle.standardError.write(Data("warning: skipping damaged checkpoint: \(s)\n".utf8)) }
        return latest
    }
    return url
}
