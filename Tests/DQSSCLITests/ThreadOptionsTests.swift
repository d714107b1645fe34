import Foundation
import Testing

/// `--threads` is one shared option group (Sources/DQSSCLI/ThreadOptions.swift): every command that computes
/// refuses a count below 1 with the same message, before it opens any file (the paths below do not exist).
@Suite("--threads option", .enabled(if: FileManager.default.isExecutableFile(atPath: dqssExecutable.path),
                                    "skipped: the built dqss executable not found"))
struct ThreadOptionsTests {
    static let commands: [[String]] = [
        ["demo"],
        ["eval", "--model", "resnet20", "--weights", "w", "--data", "d"],
        ["ptq", "--model", "resnet20", "--weights", "w", "--data", "d", "--method", "maxabs"],
        ["search", "--mode", "ptq", "--model", "resnet20", "--weights", "w", "--data", "d"],
        ["search", "--mode", "ptq", "--task", "sr", "--model", "imdn", "--weights", "w", "--data", "d", "--calib-data", "c"],
        ["search", "--mode", "qat", "--model", "resnet20", "--data", "d"],
        ["qat", "--model", "resnet20", "--data", "d", "--method", "lsq"],
        ["sr-eval", "--model", "imdn", "--weights", "w", "--data", "d"],
        ["export", "--model", "resnet20", "--weights", "w", "--format", "json", "--out", "o"],
    ]

    @Test("--threads 0 is refused by every computing command, naming the flag and the value", arguments: commands)
    func refusesZeroThreads(_ command: [String]) throws {
        let (status, _, err) = try runDQSS(command + ["--threads", "0"])
        #expect(status != 0)
        #expect(err.contains("--threads must be at least 1 (got 0)"), "\(command.prefix(3)): \(err)")
    }
}
