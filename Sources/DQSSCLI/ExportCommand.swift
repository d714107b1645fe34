// `dqss export --from CHECKPOINT --format json --out FILE`: the derived network of a search — per layer
// the winner-take-all (Eq. 6) activation and weight candidates with their thresholds, bit widths and the
// α, β they were chosen from — as one JSON document. Formats are cases of `ExportFormat`; a new format
// adds a case and a writer function.

import ArgumentParser
import Foundation
import DQSSSearch
import DQSSCheckpoint

enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
    case json
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export the derived per-layer assignment and thresholds of a checkpoint.")

    @Option(help: "A checkpoint file, or a checkpoint directory (its newest checkpoint).")
    var from: String

    @Option(help: "Output format: \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: ExportFormat = .json

    @Option(help: "Output file ('-' for stdout).")
    var out: String

    func run() throws {
        let url = try resolveCheckpointArgument(from)
        let c = try CheckpointReader.read(url)
        switch format {
        case .json: try write(try Self.assignmentJSON(c, file: url.path))
        }
    }

    func write(_ data: Data) throws {
        if out == "-" {
            FileHandle.standardOutput.write(data)
            return
        }
        do { try data.write(to: URL(fileURLWithPath: out), options: .atomic) } catch {
            throw ValidationError("cannot write --out \(out): \(error.localizedDescription)")
        }
    }

    /// {"format": "dqss-assignment", "version": 1, "model", "step", "source", "candidates", "layers": [LayerStrategy...]}
    static func assignmentJSON(_ c: Checkpoint, file: String) throws -> Data {
        guard let q = c.quantization else {
            throw CheckpointError(.mismatch, file: file, "holds no quantizers: nothing to export (not a search or QAT checkpoint)")
        }
        let doc: [String: Any] = [
            "format": "dqss-assignment", "version": 1, "model": c.model, "task": c.task, "step": c.progress.step,
            "source": file, "candidates": q.candidates, "temperature": q.temperature,
            "layers": CheckpointSummary.derivedLayers(q),
        ]
        var data = try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .prettyPrinted])
        data.append(0x0A)
        return data
    }
}
