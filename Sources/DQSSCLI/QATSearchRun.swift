// DQSS in QAT (`dqss search --mode qat`, ALGORITHMS.md §7): the four QAT candidates mixed on every quantized
// layer (shared weight, Eq. 11), W, quantizer parameters and α/β trained in one pass per step with two
// parameter groups; at the end the soft mixture and the derived (argmax, §7.4) network are evaluated —
// the derived one is the "DQSS" number — and the per-layer assignment is reported.

import ArgumentParser
import DQSSModels
import DQSSQuant
import DQSSSearch

enum QATSearchRun {
    static func run(_ o: QATRunOptions, initialLogit: Float = 0.1) throws {
        try runQAT(o, method: "dqss", install: { model in
            QATMixedModel(model: model, bits: o.bits, firstLast: try o.firstLast, options: try o.qatOptions,
                          initialLogit: initialLogit)
        }, finish: { network, context in
            let mixed = network as! QATMixedModel
            let test = context.test, trainer = context.trainer
            let soft = try trainer.history.last?.testTop1
                ?? 100 * evaluateClassifier(mixed.model, data: test, batchSize: o.evalBatch).top1
            mixed.setMode(.winnerTakeAll)
            let derived = try 100 * evaluateClassifier(mixed.model, data: test, batchSize: o.evalBatch).top1
            var result = QATFinishResult(top1: derived, softTop1: soft)
            if let reestimate = context.reestimateBatchNorm {
                result.reestimateImages = try reestimate()
                result.reestimatedTop1 = try 100 * evaluateClassifier(mixed.model, data: test, batchSize: o.evalBatch).top1
            }
            mixed.setMode(.soft)
            let a = mixed.assignment()
            trainer.log.line(String(format: "DQSS: soft mixture %.2f %%, derived (argmax) %.2f %%%@; activations %@, weights %@",
                                    soft, derived, result.reestimatedTop1.map { String(format: ", derived with BatchNorm re-estimated %.2f %%", $0) } ?? "",
                                    "\(a.activationCounts)", "\(a.weightCounts)"))
            result.assignment = QATReport.AssignmentReport(
                candidates: a.candidates, activationCounts: a.activationCounts, weightCounts: a.weightCounts,
                layers: a.layers.map { .init(name: $0.name, activation: $0.activationCandidate, weight: $0.weightCandidate,
                                             activationThreshold: $0.activationThreshold, weightThreshold: $0.weightThreshold,
                                             alpha: $0.alpha, beta: $0.beta) })
            return result
        })
    }
}

/// `dqss search --mode qat` (reached through SearchCommand, which owns the `search` name).
struct QATSearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "DQSS search --mode qat: the four QAT candidates mixed per layer, trained jointly (§7).")

    @Option(help: "Search mode: qat.")
    var mode: String

    @OptionGroup var options: QATRunOptions

    func validate() throws {
        guard mode == "qat" else { throw ValidationError("--mode \(mode): this command runs --mode qat") }
    }

    func run() throws { try QATSearchRun.run(options) }
}
