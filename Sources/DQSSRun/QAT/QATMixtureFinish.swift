// The end of a DQSS QAT search (`dqss search --mode qat`, ALGORITHMS.md §7.4): the soft mixture's top-1
// (the last epoch's evaluation, or a new one), then the derived network — winner-take-all per side (Eq. 6) —
// evaluated: the "DQSS" number; optionally again after re-estimating BatchNorm statistics; then the
// per-layer assignment. The mixture is left in soft mode.

import DQSSLayers
import DQSSQuant
import DQSSSearch

extension QATRun {
    /// Evaluate the soft mixture and the derived network of `mixed` after training, log one line and
    /// return the report's numbers and assignment. `evalBatch`: images per forward pass.
    public static func finishMixture(_ mixed: QATMixedModel, _ context: QATFinishContext,
                                     evalBatch: Int) throws -> QATFinishResult {
        let test = context.test, trainer = context.trainer
        let schedule = trainer.configuration.searchSchedule
        // The last evaluation during training is of the network being trained: the soft mixture under the
        // paper's schedule, the derived network once the annealed schedule has derived it.
        let soft: Double
        if schedule.kind == .paper, let last = trainer.history.last?.testTop1 {
            soft = last
        } else {
            mixed.setMode(.soft)
            soft = try 100 * evaluateClassifier(mixed.model, data: test, batchSize: evalBatch).top1
        }
        mixed.setMode(.winnerTakeAll)
        let derived = try 100 * evaluateClassifier(mixed.model, data: test, batchSize: evalBatch).top1
        var result = QATFinishResult(top1: derived, softTop1: soft)
        if let reestimate = context.reestimateBatchNorm {
            result.reestimateImages = try reestimate()
            result.reestimatedTop1 = try 100 * evaluateClassifier(mixed.model, data: test, batchSize: evalBatch).top1
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
        result.candidates = a.candidates
        result.searchSchedule = schedule.description
        let hooks = zip(mixed.activationHooks, mixed.weightHooks).map { $0 }
        result.assignment = zip(zip(a.layers, margins), hooks).map { lm, h in
            var layer = AssignmentLayer(lm.0)
            layer.activationMargin = lm.1.activation
            layer.weightMargin = lm.1.weight
            // θ at the final temperature, as the margins (soft mode: the mixture's weights, not one-hot).
            layer.thetaActivation = ArchitectureSoftmax.theta(h.0.logitValues, mode: .soft, temperature: h.0.temperature)
            layer.thetaWeight = ArchitectureSoftmax.theta(h.1.logitValues, mode: .soft, temperature: h.1.temperature)
            return layer
        }
        return result
    }
}
