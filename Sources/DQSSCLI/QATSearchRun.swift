// DQSS in QAT (`dqss search --mode qat`, ALGORITHMS.md §7): the four QAT candidates mixed on every quantized
// layer (shared weight, Eq. 11), W, quantizer parameters and α/β trained in one pass per step with two
// parameter groups; at the end the soft mixture and the derived (argmax, §7.4) network are evaluated —
// the derived one is the "DQSS" number — and the per-layer assignment is reported.

import ArgumentParser
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSRun

enum QATSearchRun {
    static func run(_ o: QATRunOptions, initialLogit: Float = 0.1) throws {
        try runQAT(o, method: "dqss", install: { model in
            QATMixedModel(model: model, bits: o.bits, firstLast: o.firstLastBits, options: o.qatOptions,
                          initialLogit: initialLogit)
        }, finish: { mixed, context in
            try QATRun.finishMixture(mixed, context, evalBatch: o.evaluation.batch)
        })
    }
}

/// `dqss search --mode qat` (reached through SearchCommand, which owns the `search` name).
struct QATSearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "DQSS search --mode qat: the four QAT candidates mixed per layer, trained jointly (§7).")

    @Option(help: "Search mode: qat.")
    var mode: SearchMode

    @OptionGroup var options: QATRunOptions

    func validate() throws {
        guard mode == .qat else { throw ValidationError("--mode \(mode.rawValue): this command runs --mode qat") }
    }

    func run() throws { try QATSearchRun.run(options) }
}
