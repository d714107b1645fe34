// PTQSearch with a regression target (super-resolution, ALGORITHMS.md §6 step 4 and §9 #11): the same
// schedules, batches and α/β optimiser as `run(images:labels:)`, with the L1 loss between the network
// output and the HR patch (BasicSR's loss for the SR models) instead of cross-entropy.

import DQSSTensor
import DQSSLayers

extension PTQSearch {
    /// Run the schedule over `inputs` [M, ...] with `targets` [M, ...] (the network's output shape) and the
    /// L1 loss (mean over all elements). `progress` after every step.
    @discardableResult
    public func run(inputs: Tensor, targets: Tensor,
                    progress: ((SearchStepRecord) -> Void)? = nil) -> [SearchStepRecord] {
        let m = inputs.shape[0]
        precondition(targets.shape[0] == m, "\(targets.shape[0]) targets for \(m) calibration inputs")
        let l1 = L1Loss()
        let batch = Tensor(shape: [0]), target = Tensor(shape: [0])
        return runSchedule(totalImages: m, progress: progress) { _, global in
            let idx = Array(global)
            batch.gatherRows(of: inputs, at: idx)
            target.gatherRows(of: targets, at: idx)
            let loss = l1.forward(model.forward(batch), target)
            _ = model.backward(l1.backward())
            return Double(loss)
        }
    }
}
