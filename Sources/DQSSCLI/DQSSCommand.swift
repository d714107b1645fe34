// The `dqss` command: subcommands are registered here; each lives in its own file.

import ArgumentParser

public struct DQSSCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dqss",
        abstract: "Differentiable search for per-layer quantization strategies (DQSS).",
        subcommands: [DemoCommand.self, EvalCommand.self, PTQCommand.self, QATCommand.self, SearchCommand.self, InspectCommand.self, ExportCommand.self,
                      CheckpointDrillCommand.self,
                      SREvalCommand.self, SRSearchCommand.self, PrepareCommand.self]
    )
    public init() {}
}
