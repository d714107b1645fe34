// `dqss search`: one command for the three DQSS searches, chosen by --mode and --task:
//
//   dqss search --mode ptq [--task classification] ...   PTQSearchCommand (ALGORITHMS.md §6, §6.2)
//   dqss search --mode ptq --task sr ...                  SRSearchCommand  (§6 with L1 loss, PSNR/SSIM)
//   dqss search --mode qat ...                            QATSearchCommand (§7)
//
// The three take different flags (a PTQ search has no training epochs of the network, a QAT search no
// calibration candidates), so the arguments are captured here and parsed by the chosen command; its
// errors and its --help are the ones the user sees.

import ArgumentParser
import DQSSRun

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "DQSS search: --mode ptq (PTQ candidates, frozen weights), --mode qat (QAT candidates, joint training); --task sr for super-resolution.",
        discussion: """
        dqss search --mode ptq --model resnet20 --weights W.safetensors --data DIR [--bits 8 | --weight-bits B --act-bits B] [--out DIR] [--json]
        dqss search --mode ptq --task sr --model imdn --weights W.safetensors --data SR_DIR --calib-data CIFAR_DIR [--json]
        dqss search --mode qat --model resnet20 --weights W.safetensors --data DIR [--epochs N] [--json]
        `dqss search --mode ptq --help` (or qat, or --task sr) lists the flags of that search.
        """)

    @Argument(parsing: .captureForPassthrough, help: "--mode ptq|qat, [--task classification|sr], then the flags of that search.")
    var arguments: [String] = []

    /// The value of `--name V` or `--name=V` in `args`, and `args` without it.
    static func take(_ name: String, from args: [String]) throws -> (String?, [String]) {
        var rest: [String] = [], value: String?
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--\(name)" {
                guard i + 1 < args.count else { throw ValidationError("--\(name) needs a value") }
                value = args[i + 1]
                i += 2
                continue
            }
            if a.hasPrefix("--\(name)=") {
                value = String(a.dropFirst(name.count + 3))
                i += 1
                continue
            }
            rest.append(a)
            i += 1
        }
        return (value, rest)
    }

    func run() throws {
        let (modeValue, withoutMode) = try Self.take("mode", from: arguments)
        let (taskValue, rest) = try Self.take("task", from: withoutMode)
        let help = rest.contains("--help") || rest.contains("-h")
        guard let modeValue else {
            if help { print(Self.helpMessage()); return }
            throw ValidationError("--mode is required: ptq or qat (`dqss search --mode ptq --help` lists the flags)")
        }
        guard let mode = SearchMode(argument: modeValue) else {
            throw ValidationError("--mode \(modeValue): expected \(SearchMode.allValueStrings.joined(separator: " or "))")
        }
        guard let task = SearchTask(argument: taskValue ?? SearchTask.classification.rawValue) else {
            throw ValidationError("--task \(taskValue ?? ""): expected \(SearchTask.allValueStrings.joined(separator: " or "))")
        }
        switch (mode, task) {
        case (.ptq, .classification):
            if help { print(PTQSearchCommand.helpMessage()); return }
            try PTQSearchCommand.parse(rest).run()
        case (.ptq, .sr):
            if help { print(SRSearchCommand.helpMessage()); return }
            try SRSearchCommand.parse(rest).run()
        case (.qat, .classification):
            if help { print(QATSearchCommand.helpMessage()); return }
            try QATSearchCommand.parse(["--mode", "qat"] + rest).run()
        case (.qat, .sr):
            throw ValidationError("--task sr: the QAT search supports classification only")
        }
    }
}
