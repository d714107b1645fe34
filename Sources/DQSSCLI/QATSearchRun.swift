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
            let schedule = trainer.configuration.searchSchedule
            // The last evaluation during training is of the network being trained: the soft mixture under the
            // paper's schedule, the derived network once the annealed schedule has derived it.
            let soft: Double
            if schedule.kind == .paper, let last = trainer.history.last?.testTop1 {
                soft = last
            } else {
                mixed.setMode(.soft)
                soft = try 100 * evaluateClassifier(mixed.model, data: test, batchSize: o.evalBatch).top1
            }
            mixed.setMode(.winnerTakeAll)
            let derived = try 100 * evaluateClassifier(mixed.model, data: test, batchSize: o.evalBatch).top1
            var result = QATFinishResult(top1: derived, softTop1: soft)
            if let reestimate = context.reestimateBatchNorm {
                result.reestimateImages = try reestimate()
                result.reestimatedTop1 = try 100 * evaluateClassifier(mixed.model, data: test, batchSize: o.evalBatch).top1
            }
            mixed.setMode(.soft)
            let a = mixed.assignment()
            let margins = mixed.thetaMargins()
            trainer.log.line("per-layer assignment (θ margin = top minus second θ at the final temperature "
                             + "\(String(format: "%g", mixed.activationHooks.first?.temperature ?? 1)); near 0 = not decided):")
            trainer.log.line("  " + "layer".padding(toLength: 22, withPad: " ", startingAt: 0) + "activation  margin   weight      margin")
            for (l, m) in zip(a.layers, margins) {
                trainer.log.line("  " + l.name.padding(toLength: 22, withPad: " ", startingAt: 0)
                                 + l.activationCandidate.padding(toLength: 12, withPad: " ", startingAt: 0)
                                 + String(format: "%-9.3g", m.activation)
                                 + l.weightCandidate.padding(toLength: 12, withPad: " ", startingAt: 0)
                                 + String(format: "%.3g", m.weight))
            }
            trainer.log.line(String(format: "DQSS: soft mixture %.2f %%, derived (argmax) %.2f %%%@; activations %@, weights %@",
                                    soft, derived, result.reestimatedTop1.map { String(format: ", derived with BatchNorm re-estimated %.2f %%", $0) } ?? "",
                                    "\(a.activationCounts)", "\(a.weightCounts)"))
            result.assignment = QATReport.AssignmentReport(
                candidates: a.candidates, schedule: schedule.description,
                activationCounts: a.activationCounts, weightCounts: a.weightCounts,
                layers: zip(a.layers, margins).map { l, m in
                    .init(name: l.name, activation: l.activationCandidate, weight: l.weightCandidate,
                          activationThreshold: l.activationThreshold, weightThreshold: l.weightThreshold,
                          alpha: l.alpha, beta: l.beta, activationMargin: m.activation, weightMargin: m.weight) })
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
