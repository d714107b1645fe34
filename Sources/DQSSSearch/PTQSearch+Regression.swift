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
        let perIn = inputs.count / max(m, 1), perOut = targets.count / max(m, 1)
        let spe = settings.stepsPerEpoch(images: m), total = spe * settings.epochs
        let params = mixed.architectureParameters.map(\.parameter)
        let optimizer = settings.makeOptimizer(params)
        let l1 = L1Loss()
        model.setTraining(false)
        mixed.setMode(.soft)
        var rng = RNG(seed: settings.seed)
        var records: [SearchStepRecord] = []
        let batch = Tensor(shape: [0]), target = Tensor(shape: [0])
        var step = 0
        for epoch in 0..<settings.epochs {
            var order = Array(0..<m)
            for i in stride(from: m - 1, to: 0, by: -1) { order.swapAt(i, rng.int(below: i + 1)) }
            for b in 0..<spe {
                let idx = Array(order[(b * settings.batchSize)..<min(m, (b + 1) * settings.batchSize)])
                var si = inputs.shape, st = targets.shape
                si[0] = idx.count
                st[0] = idx.count
                batch.resize(to: si)
                target.resize(to: st)
                for (r, i) in idx.enumerated() {
                    (batch.data + r * perIn).update(from: inputs.data + i * perIn, count: perIn)
                    (target.data + r * perOut).update(from: targets.data + i * perOut, count: perOut)
                }
                let tau = settings.temperature(step: step, totalSteps: total)
                let lr = settings.learningRate(epoch: epoch, step: step, totalSteps: total)
                mixed.setTemperature(tau)
                optimizer.groups[0].lr = lr
                mixed.zeroArchitectureGradients()
                let loss = l1.forward(model.forward(batch), target)
                _ = model.backward(l1.backward())
                optimizer.step()
                let rec = SearchStepRecord(epoch: epoch, step: step, loss: Double(loss), lr: lr, temperature: tau)
                records.append(rec)
                progress?(rec)
                step += 1
            }
        }
        return records
    }
}
