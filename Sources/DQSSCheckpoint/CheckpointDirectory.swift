// CheckpointDirectory: naming of checkpoint files and finding the one to resume from.
// Files are `ckpt-<step, 8+ digits>.h5`; `--resume auto` takes the newest one that verifies (seal:
// length and SHA-256) and reads completely; a damaged newer file, whatever the damage, is reported and
// skipped, and the one before it is used.

import Foundation

public enum CheckpointDirectory {
    static let filePrefix = "ckpt-"
    static let fileSuffix = ".h5"

    /// The final network of a QAT run's output directory (`dqss qat|search --mode qat --out DIR`): a
    /// checkpoint of the state after training (and BatchNorm re-estimation), what `dqss export --from DIR` reads.
    public static let finalNetworkName = "network" + fileSuffix

    /// `directory`'s final network file when it holds one (a QAT --out directory), else nil.
    public static func finalNetwork(in directory: URL) -> URL? {
        let url = directory.appendingPathComponent(finalNetworkName)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    public static func fileName(step: Int) -> String { filePrefix + String(format: "%08d", step) + fileSuffix }

    /// Checkpoint files in `directory`, oldest (smallest step) first.
    public static func checkpoints(in directory: URL) -> [(step: Int, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name -> (step: Int, url: URL)? in
            guard name.hasPrefix(filePrefix), name.hasSuffix(fileSuffix),
                  let step = Int(name.dropFirst(filePrefix.count).dropLast(fileSuffix.count)) else { return nil }
            return (step, directory.appendingPathComponent(name))
        }.sorted { $0.step < $1.step }
    }

    /// The newest checkpoint in `directory` that verifies and reads completely (every section, as a resume
    /// will read it); `skipped` lists newer files that did not, with the reason. Throws `.noCheckpoint`
    /// when there is none.
    public static func latest(in directory: URL) throws -> (url: URL, skipped: [CheckpointError]) {
        var skipped: [CheckpointError] = []
        for c in checkpoints(in: directory).reversed() {
            do {
                _ = try CheckpointReader.read(c.url)
                return (c.url, skipped)
            } catch let e as CheckpointError {
                skipped.append(e)
            }
        }
        let why = skipped.isEmpty ? "no \(filePrefix)*\(fileSuffix) files" : "no readable checkpoint (\(skipped.count) damaged)"
        throw CheckpointError(.noCheckpoint, file: directory.path, "nothing to resume from: \(why)")
    }

    /// `--resume PATH|auto`: "auto" is the latest in `directory`; anything else is a file path.
    public static func resolve(_ resume: String, directory: URL?) throws -> (url: URL, skipped: [CheckpointError]) {
        if resume == "auto" {
            guard let directory else {
                throw CheckpointError(.noCheckpoint, file: "auto", "--resume auto needs --checkpoint-dir")
            }
            return try latest(in: directory)
        }
        return (URL(fileURLWithPath: resume), [])
    }
}
