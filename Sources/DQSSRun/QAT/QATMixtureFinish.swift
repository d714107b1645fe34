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
        let soft = try trainer.history.last?.testTop1
            ?? 100 * evaluateClassifier(mixed.model, data: test, batchSize: evalBatch).top1
        mixed.setMode(.winnerTakeAll)
        let derived = try 100 * evaluateClassifier(mixed.model, data: test, batchSize: evalBatch).top1
        var result = QATFinishResult(top1: derived, softTop1: soft)
        if let reestimate = context.reestimateBatchNorm {
            result.reestimateImages = try reestimate()
            result.reestimatedTop1 = try 100 * evaluateClassifier(mixed.model, data: test, batchSize: evalBatch).top1
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
    }
}
