import Foundation
import Testing
import _TestSupport
import DQSSTensor
import DQSSLayers
import DQSSCheckpoint

/// Adam state through an HDF5 file: continuing from the restored state equals continuing the original.
@Suite("Optimizer state")
struct OptimizerStateTests {
    /// Two parameters, quadratic loss L = ½ Σ (w − target)², gradient w − target.
    final class Problem {
        let a = Parameter(Tensor(shape: [2, 3], values: [1, -2, 3, 0.5, -0.25, 2]))
        let b = Parameter(Tensor(shape: [4], values: [0.1, 0.2, -0.3, 4]), decays: false)
        let untouched = Parameter(Tensor(shape: [1], values: [7]))
        lazy var names = ParameterNames([("a", a), ("b", b), ("frozen", untouched)])
        lazy var adam: Adam = {
            untouched.requiresGrad = false
            return Adam(groups: [ParameterGroup(name: "main", parameters: [a, b], lr: 0.05, weightDecay: 0.01,
                                                schedule: .step(milestones: [3], gamma: 0.5)),
                                 ParameterGroup(name: "frozen", parameters: [untouched], lr: 0.1)])
        }()
        func step(_ t: Int) {
            adam.setEpoch(Double(t))
            for p in [a, b] {
                for i in 0..<p.value.count { p.grad.data[i] = p.value.data[i] - Float(i) * 0.5 }
            }
            adam.step()
        }
    }

    @Test("Adam exp_avg, exp_avg_sq and step per parameter, lr settings; a never-updated parameter has no state")
    func adamRoundTrip() throws {
        let dir = TemporaryDirectory()
        let original = Problem()
        for t in 0..<4 { original.step(t) }
        let state = try OptimizerState(adam: original.adam, names: original.names, scheduleTime: 4)
        #expect(state.state.map(\.parameter) == ["a", "b"])
        let c = Checkpoint(model: "quadratic", task: "test", progress: TrainingProgress(epoch: 0, step: 4, dataCursor: 0, globalBatch: 1),
                           stateDict: [NamedArray(name: "a", tensor: original.a.value), NamedArray(name: "b", tensor: original.b.value)],
                           optimizer: state)
        let url = try CheckpointWriter(directory: dir.url).write(c)
        let back = try CheckpointReader.read(url)
        #expect(back.optimizer == state)

        let resumed = Problem()
        resumed.a.value.set(back.stateDict[0].array.float32Values!)
        resumed.b.value.set(back.stateDict[1].array.float32Values!)
        try back.optimizer!.restore(into: resumed.adam, names: resumed.names, file: url.path)
        for t in 4..<8 { original.step(t); resumed.step(t) }
        #expect(resumed.a.value.array.map(\.bitPattern) == original.a.value.array.map(\.bitPattern))
        #expect(resumed.b.value.array.map(\.bitPattern) == original.b.value.array.map(\.bitPattern))
        #expect(resumed.adam.states[0][0]?.step == 8)

        // Restoring into an SGD, or into groups with other members, is refused.
        let sgd = SGD(groups: [ParameterGroup(name: "main", parameters: [resumed.a], lr: 0.1)])
        let e = #expect(throws: CheckpointError.self) { try back.optimizer!.restore(into: sgd, names: resumed.names, file: url.path) }
        #expect(e?.description.contains("it was adam, this run uses sgd") == true)
        let other = Adam(groups: [ParameterGroup(name: "main", parameters: [resumed.b, resumed.a], lr: 0.05),
                                  ParameterGroup(name: "frozen", parameters: [resumed.untouched], lr: 0.1)])
        let f = #expect(throws: CheckpointError.self) { try back.optimizer!.restore(into: other, names: resumed.names, file: url.path) }
        #expect(f?.description.contains("first difference: 'a' vs 'b'") == true)
    }
}
