// The `dqss` command: subcommands are registered here; each lives in its own file.

import ArgumentParser
import DQSSRun

public struct DQSSCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dqss",
        abstract: "Differentiable search for per-layer quantization strategies (DQSS).",
        version: DQSSCommand.version,
        subcommands: [DemoCommand.self, EvalCommand.self, PTQCommand.self, QATCommand.self, SearchCommand.self, InspectCommand.self, ExportCommand.self,
                      CheckpointDrillCommand.self,
                      SREvalCommand.self, SRSearchCommand.self, PrepareCommand.self]
    )
    /// `dqss --version`.
    public static let version = "0.1.0"

    public init() {}
}
