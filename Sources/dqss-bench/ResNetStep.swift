// The ResNet-20 training step of dqss-bench: forward, softmax cross-entropy, backward, SGD update
// (momentum 0.9, weight decay 1e-4, as in He et al.), batch 128 of CIFAR-shaped inputs. Timed per phase.

import DQSSTensor
import DQSSLayers
import DQSSModels
import Dispatch
import Foundation

struct StepTiming: Codable {
    var stepMs: Double
    var forwardMs: Double
    var backwardMs: Double
    var updateMs: Double
    /// Process CPU time per step (all threads): on a shared machine, cpuMs / threads is what the step
    /// would take with the cores to itself (if it scaled perfectly).
    var cpuMs: Double
}

func resnet20Step(batch: Int, repeats: Int) -> StepTiming {
    var rng = RNG(seed: 20)
    let model = CIFARResNet(depth: 20, rng: &rng)
    model.setTraining(true)
    // The first convolution's input is the data batch: its input gradient is never used.
    if let first = model.namedLayers().lazy.compactMap({ $0.layer as? Conv2d }).first {
        first.needsInputGradient = false
    }
    let sgd = SGD(groups: [ParameterGroup(name: "weights", parameters: model.namedParameters().map(\.parameter),
                                          lr: 0.1, momentum: 0.9, weightDecay: 1e-4)])
    let loss = SoftmaxCrossEntropy()
    let x = Tensor.uniform([batch, 3, 32, 32], -2, 2, rng: &rng)
    let labels = (0..<batch).map { _ in rng.int(below: 10) }

    var fwd: [Double] = [], bwd: [Double] = [], upd: [Double] = [], total: [Double] = [], cpu: [Double] = []
    for round in 0...max(1, repeats) {
        let c0 = cpuSeconds()
        let t0 = wallSeconds()
        sgd.zeroGradients()
        let logits = model.forward(x)
        _ = loss.forward(logits: logits, labels: labels)
        let t1 = wallSeconds()
        _ = model.backward(loss.backward())
        let t2 = wallSeconds()
        sgd.step()
        let t3 = wallSeconds()
        let c1 = cpuSeconds()
        if round > 0 {
            cpu.append(c1 - c0)  // round 0 warms up (buffers are allocated on the first step)
            fwd.append(t1 - t0); bwd.append(t2 - t1); upd.append(t3 - t2); total.append(t3 - t0)
        }
    }
    return StepTiming(stepMs: statistic(of: total) * 1e3, forwardMs: statistic(of: fwd) * 1e3,
                      backwardMs: statistic(of: bwd) * 1e3, updateMs: statistic(of: upd) * 1e3,
                      cpuMs: statistic(of: cpu) * 1e3)
}
