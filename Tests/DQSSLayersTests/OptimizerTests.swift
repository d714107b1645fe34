import Foundation
import Testing
import DQSSTensor
import DQSSLayers

private func param(_ v: Float, grad: Float, decays: Bool = true) -> Parameter {
    let p = Parameter(Tensor(shape: [1], values: [v]), decays: decays)
    p.grad[0] = grad
    return p
}

@Suite("SGD")
struct SGDTests {
    @Test("two momentum steps with weight decay equal hand-computed values; no decay where decays == false")
    func momentumAndDecay() {
        let w = param(1, grad: 0.5), b = param(1, grad: 0.5, decays: false)
        let frozen = param(1, grad: 0.5)
        frozen.requiresGrad = false
        let sgd = SGD(groups: [ParameterGroup(name: "net", parameters: [w, b, frozen], lr: 0.1, momentum: 0.9, weightDecay: 0.01)])
        sgd.step()
        // w: d = 0.5 + 0.01·1 = 0.51, buf = 0.51, w = 1 − 0.051.  b: buf = 0.5, b = 0.95.
        #expect(abs(w.value[0] - 0.949) < 1e-6 && abs(b.value[0] - 0.95) < 1e-6)
        sgd.step()
        // w: d = 0.5 + 0.00949, buf = 0.9·0.51 + d = 0.96849, w = 0.949 − 0.096849.
        #expect(abs(w.value[0] - 0.852151) < 1e-6, "\(w.value[0])")
        #expect(abs(b.value[0] - 0.855) < 1e-6)      // buf = 0.45 + 0.5
        #expect(frozen.value[0] == 1 && sgd.momentumBuffers[0][2] == nil)
        #expect(abs(sgd.momentumBuffers[0][0]![0] - 0.96849) < 1e-6)
    }

    @Test("Nesterov, plain SGD and per-group learning rates")
    func variants() {
        let a = param(1, grad: 0.5), c = param(1, grad: 0.5), e = param(1, grad: 2)
        let sgd = SGD(groups: [ParameterGroup(name: "nesterov", parameters: [a], lr: 0.1, momentum: 0.9, nesterov: true),
                               ParameterGroup(name: "plain", parameters: [c], lr: 0.2, momentum: 0),
                               ParameterGroup(name: "alpha", parameters: [e], lr: 0.01, momentum: 0)])
        sgd.step()
        #expect(abs(a.value[0] - (1 - 0.1 * (0.5 + 0.9 * 0.5))) < 1e-6)
        #expect(abs(c.value[0] - 0.9) < 1e-6)
        #expect(abs(e.value[0] - 0.98) < 1e-6)
    }

    @Test("restored momentum buffers continue the trajectory; wrong shapes are rejected")
    func restore() throws {
        let w1 = param(1, grad: 0.5), w2 = param(1, grad: 0.5)
        let s1 = SGD(groups: [ParameterGroup(name: "g", parameters: [w1], lr: 0.1)])
        s1.step()
        let s2 = SGD(groups: [ParameterGroup(name: "g", parameters: [w2], lr: 0.1)])
        w2.value[0] = w1.value[0]
        try s2.restoreMomentumBuffers(s1.momentumBuffers)
        s1.step(); s2.step()
        #expect(w1.value[0] == w2.value[0])
        #expect(throws: OptimizerStateError.self) { try s2.restoreMomentumBuffers([[Tensor(shape: [2])]]) }
    }

    @Test("setEpoch applies each group's schedule to its own base lr")
    func schedulesPerGroup() {
        let sgd = SGD(groups: [ParameterGroup(name: "w", parameters: [], lr: 0.1, schedule: .step(milestones: [2], gamma: 0.1)),
                               ParameterGroup(name: "alpha", parameters: [], lr: 0.5)])
        sgd.setEpoch(3)
        #expect(abs(sgd.groups[0].lr - 0.01) < 1e-8 && sgd.groups[1].lr == 0.5)
    }
}

@Suite("LRSchedule")
struct LRScheduleTests {
    @Test("step, cosine and warm-up values at given times")
    func values() {
        let step = LRSchedule.step(milestones: [2, 4], gamma: 0.1)
        #expect(step.lr(at: 0, base: 1) == 1 && step.lr(at: 1.9, base: 1) == 1)
        #expect(abs(step.lr(at: 2, base: 1) - 0.1) < 1e-7 && abs(step.lr(at: 4, base: 1) - 0.01) < 1e-7)
        let cos = LRSchedule.cosine(total: 10, minimum: 0.1)
        #expect(cos.lr(at: 0, base: 1) == 1)
        #expect(abs(cos.lr(at: 5, base: 1) - 0.55) < 1e-6)
        #expect(abs(cos.lr(at: 10, base: 1) - 0.1) < 1e-6 && abs(cos.lr(at: 12, base: 1) - 0.1) < 1e-6)
        #expect(abs(cos.lr(at: 2.5, base: 1) - Float(0.1 + 0.9 * (1 + Foundation.cos(Double.pi / 4)) / 2)) < 1e-6)
        let warm = LRSchedule(.constant, warmup: 2)
        #expect(warm.lr(at: 0, base: 1) == 0.5 && warm.lr(at: 1, base: 1) == 1 && warm.lr(at: 5, base: 1) == 1)
        #expect(LRSchedule.constant.lr(at: 100, base: 0.3) == 0.3)
    }
}

@Suite("Adam")
struct AdamTests {
    @Test("first two steps equal the bias-corrected hand computation")
    func twoSteps() {
        let w = param(1, grad: 0.5)
        let adam = Adam(groups: [ParameterGroup(name: "alpha", parameters: [w], lr: 0.01)])
        adam.step()
        // m̂ = g, v̂ = g²: the first step moves by lr · g/(|g| + ε).
        #expect(abs(Double(w.value[0]) - (1 - 0.01 * 0.5 / (0.5 + 1e-8))) < 1e-6)
        w.grad[0] = -1
        adam.step()
        let m = 0.9 * 0.05 + 0.1 * -1.0, v = 0.999 * 0.00025 + 0.001 * 1.0
        let mhat = m / (1 - 0.81), vhat = v / (1 - 0.999 * 0.999)
        let expected = 0.99 - 0.01 * mhat / (vhat.squareRoot() + 1e-8)
        #expect(abs(Double(w.value[0]) - expected) < 1e-6, "\(w.value[0]) vs \(expected)")
        #expect(adam.states[0][0]!.step == 2)
    }

    @Test("weight decay adds wd · w to the gradient for decaying parameters only")
    func decay() {
        let w = param(2, grad: 0), b = param(2, grad: 0, decays: false)
        let adam = Adam(groups: [ParameterGroup(name: "g", parameters: [w, b], lr: 0.1, weightDecay: 0.5)])
        adam.step()
        #expect(abs(w.value[0] - 1.9) < 1e-6 && b.value[0] == 2)
    }
}
