// Copying live training state into a Checkpoint and back: model parameters and buffers by state_dict
// name, DQSS quantizers (thresholds, α, β, assignment), SGD/Adam state by parameter name, RNG streams.
// Restores are strict: a name missing on either side or a shape that differs is an error naming it.

import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch

/// Names of parameters, to key optimizer state (optimizers hold Parameters, not names).
public struct ParameterNames {
    private var names: [ObjectIdentifier: String] = [:]
    private var byName: [String: Parameter] = [:]

    /// E.g. `model.namedParameters() + mixed.architectureParameters`.
    public init(_ named: [(name: String, parameter: Parameter)]) {
        for n in named {
            names[ObjectIdentifier(n.parameter)] = n.name
            byName[n.name] = n.parameter
        }
    }

    public func name(of p: Parameter) -> String? { names[ObjectIdentifier(p)] }
    public func parameter(named n: String) -> Parameter? { byName[n] }
}

extension NamedArray {
    public init(name: String, tensor: Tensor) {
        self.init(name: name, array: .float32(tensor.array, shape: tensor.shape))
    }
}

extension RNGStreamState {
    public init(name: String, rng: RNG) { self.init(name: name, state: rng.state) }
    public var rng: RNG { RNG(state: state) }
}

// MARK: - Model

extension Checkpoint {
    /// Every parameter, then every buffer of `model`, by state_dict name (copies).
    public static func stateDict(of model: any Layer) -> [NamedArray] {
        model.namedParameters().map { NamedArray(name: $0.name, tensor: $0.parameter.value) }
            + model.namedBuffers().map { NamedArray(name: $0.name, tensor: $0.tensor) }
    }

    /// Copy the saved state_dict into `model`. Every name must match both ways, with equal shapes.
    public func restoreStateDict(into model: any Layer, file: String) throws {
        var targets: [String: Tensor] = [:]
        var order: [String] = []
        for p in model.namedParameters() { targets[p.name] = p.parameter.value; order.append(p.name) }
        for b in model.namedBuffers() { targets[b.name] = b.tensor; order.append(b.name) }
        let saved = Set(stateDict.map(\.name))
        let missing = order.filter { !saved.contains($0) }
        let unexpected = stateDict.map(\.name).filter { targets[$0] == nil }
        var problems: [String] = []
        if !missing.isEmpty { problems.append("missing in the checkpoint: \(missing.prefix(5).joined(separator: ", "))\(missing.count > 5 ? " (+\(missing.count - 5) more)" : "")") }
        if !unexpected.isEmpty { problems.append("unexpected: \(unexpected.prefix(5).joined(separator: ", "))\(unexpected.count > 5 ? " (+\(unexpected.count - 5) more)" : "")") }
        for t in stateDict {
            if let target = targets[t.name], target.shape != t.array.shape {
                problems.append("'\(t.name)' has shape \(t.array.shape) in the checkpoint, \(target.shape) in model '\(model)'")
            }
        }
        if !problems.isEmpty {
            throw CheckpointError(.mismatch, file: file, "state_dict does not fit model '\(self.model)': " + problems.joined(separator: "; "))
        }
        for t in stateDict {
            guard let values = t.array.float32Values else {
                throw CheckpointError(.mismatch, file: file, "'/model/\(t.name)' holds \(t.array.values.typeName), expected float32")
            }
            targets[t.name]!.set(values)
        }
    }
}

// MARK: - DQSS quantizers

extension QuantizationState {
    /// The quantizers of `mixed`: thresholds, α, β, and the current winner-take-all assignment.
    public init(_ mixed: MixedQuantizedModel) {
        let assignment = mixed.assignment()
        let temperature = mixed.activationHooks.first?.temperature ?? 1
        self.init(candidates: mixed.candidateNames, temperature: temperature,
                  layers: zip(mixed.points, zip(mixed.activationHooks, mixed.weightHooks)).enumerated().map { i, e in
            let (p, (a, w)) = e
            return QuantizedLayerState(
                name: p.name, activationBits: a.branches[0].bits, weightBits: w.branches[0].bits,
                activationUnsigned: a.branches[0].isUnsigned,
                activationThresholds: a.branches.map(\.threshold), weightThresholds: w.branches.map(\.threshold),
                alpha: a.logits.value.array, beta: w.logits.value.array, parameters: [],
                activationAssignment: assignment.layers[i].activationCandidate,
                weightAssignment: assignment.layers[i].weightCandidate,
                weightChannelThresholds: Self.channelThresholds(w.branches),
                weightRoundings: w.branches.contains { $0.rounding != nil } ? w.branches.map(\.rounding) : nil)
        })
    }

    /// Per branch its per-channel T_w, when any branch has them (else nil: per tensor).
    static func channelThresholds(_ branches: [QuantizerBranch]) -> [[Float]]? {
        branches.contains { $0.channelThresholds != nil } ? branches.map { $0.channelThresholds ?? [] } : nil
    }

    /// The candidates as `MixedQuantizedModel(model:candidates:)` takes them, to rebuild the same mixture.
    public var candidateLayers: [(name: String, layers: [LayerQuantization])] {
        candidates.enumerated().map { k, name in
            (name: name, layers: layers.map { l in
                LayerQuantization(name: l.name, weightBits: l.weightBits, activationBits: l.activationBits,
                                  activationUnsigned: l.activationUnsigned,
                                  thresholds: LayerThresholds(weight: l.weightThresholds[k], activation: l.activationThresholds[k],
                                                              weightChannels: l.weightChannelThresholds?[k],
                                                              weightRounding: l.weightRoundings?[k]))
            })
        }
    }

    /// Copy α, β and τ into `mixed`, after checking that its candidates, layers, bit widths and thresholds
    /// are the saved ones (bit for bit).
    public func restore(into mixed: MixedQuantizedModel, file: String) throws {
        func refuse(_ what: String) throws -> Never { throw CheckpointError(.mismatch, file: file, "cannot resume: \(what)") }
        if mixed.candidateNames != candidates { try refuse("candidates are \(candidates), this run uses \(mixed.candidateNames)") }
        if mixed.points.count != layers.count { try refuse("it quantizes \(layers.count) layers, this run \(mixed.points.count)") }
        for (l, e) in zip(layers, zip(mixed.points, zip(mixed.activationHooks, mixed.weightHooks))) {
            let (p, (a, w)) = e
            if l.name != p.name { try refuse("quantized layer '\(l.name)' where this run has '\(p.name)'") }
            if l.activationBits != a.branches[0].bits || l.weightBits != w.branches[0].bits
                || l.activationUnsigned != a.branches[0].isUnsigned {
                try refuse("layer '\(l.name)' uses W\(l.weightBits)A\(l.activationBits)\(l.activationUnsigned ? "u" : "s"), this run W\(w.branches[0].bits)A\(a.branches[0].bits)\(a.branches[0].isUnsigned ? "u" : "s")")
            }
            let saved = l.weightChannelThresholds?.map { $0.map(\.bitPattern) }
            let current = QuantizationState.channelThresholds(w.branches)?.map { $0.map(\.bitPattern) }
            if l.activationThresholds.map(\.bitPattern) != a.branches.map(\.threshold.bitPattern)
                || l.weightThresholds.map(\.bitPattern) != w.branches.map(\.threshold.bitPattern) || saved != current
                || l.weightRoundings != (w.branches.contains { $0.rounding != nil } ? w.branches.map(\.rounding) : nil) {
                try refuse("layer '\(l.name)' has other thresholds than this run's candidates (rebuild them from the checkpoint)")
            }
        }
        for (l, (a, w)) in zip(layers, zip(mixed.activationHooks, mixed.weightHooks)) {
            a.logits.value.set(l.alpha)
            w.logits.value.set(l.beta)
        }
        mixed.setTemperature(temperature)
    }
}

// MARK: - Optimizers

extension OptimizerState {
    private static func groups(_ opt: any Optimizer, _ names: ParameterNames) throws -> [OptimizerGroupState] {
        try opt.groups.map { g in
            OptimizerGroupState(name: g.name, lr: g.lr, baseLR: g.baseLR, momentum: g.momentum, weightDecay: g.weightDecay,
                                nesterov: g.nesterov, parameterNames: try g.parameters.map { p in
                guard let n = names.name(of: p) else {
                    throw CheckpointError(.writeFailed, file: "", "optimizer group '\(g.name)' holds a parameter without a name")
                }
                return n
            })
        }
    }

    /// SGD: lr settings per group and the momentum buffer of every parameter updated so far.
    public init(sgd: SGD, names: ParameterNames, scheduleTime: Double) throws {
        let groups = try Self.groups(sgd, names)
        var state: [ParameterOptimizerState] = []
        for (gi, g) in groups.enumerated() {
            for (pi, n) in g.parameterNames.enumerated() {
                if let b = sgd.momentumBuffers[gi][pi] {
                    state.append(ParameterOptimizerState(parameter: n, buffers: [NamedArray(name: "momentum_buffer", tensor: b)]))
                }
            }
        }
        self.init(kind: "sgd", scheduleTime: scheduleTime, groups: groups, state: state)
    }

    /// Adam: settings per group and exp_avg, exp_avg_sq, step per updated parameter.
    public init(adam: Adam, names: ParameterNames, scheduleTime: Double) throws {
        let groups = try Self.groups(adam, names)
        var state: [ParameterOptimizerState] = []
        for (gi, g) in groups.enumerated() {
            for (pi, n) in g.parameterNames.enumerated() {
                if let s = adam.states[gi][pi] {
                    state.append(ParameterOptimizerState(parameter: n, buffers: [
                        NamedArray(name: "exp_avg", tensor: s.expAvg), NamedArray(name: "exp_avg_sq", tensor: s.expAvgSq),
                        NamedArray(name: "step", array: .int64([Int64(s.step)], shape: [])),
                    ]))
                }
            }
        }
        self.init(kind: "adam", scheduleTime: scheduleTime, groups: groups, state: state)
    }

    /// Check that the optimizer's groups hold the saved parameters in the saved order; copy lr settings.
    private func restoreGroups(_ opt: any Optimizer, _ names: ParameterNames, kind expected: String, file: String) throws {
        func refuse(_ what: String) throws -> Never { throw CheckpointError(.mismatch, file: file, "cannot resume the optimizer: \(what)") }
        if kind != expected { try refuse("it was \(kind), this run uses \(expected)") }
        if opt.groups.map(\.name) != groups.map(\.name) {
            try refuse("parameter groups are \(groups.map(\.name)), this run has \(opt.groups.map(\.name))")
        }
        for (gi, g) in groups.enumerated() {
            let live = opt.groups[gi].parameters.map { names.name(of: $0) ?? "?" }
            if live != g.parameterNames {
                let diff = zip(live, g.parameterNames).first { $0 != $1 }
                try refuse("group '\(g.name)' holds \(g.parameterNames.count) parameters, this run \(live.count)"
                           + (diff.map { " (first difference: '\($0.1)' vs '\($0.0)')" } ?? ""))
            }
        }
        for (gi, g) in groups.enumerated() {
            opt.groups[gi].lr = g.lr
            opt.groups[gi].baseLR = g.baseLR
            opt.groups[gi].momentum = g.momentum
            opt.groups[gi].weightDecay = g.weightDecay
            opt.groups[gi].nesterov = g.nesterov
        }
    }

    private func buffer(_ name: String, of parameter: String, shape: [Int], file: String) throws -> Tensor? {
        guard let s = state.first(where: { $0.parameter == parameter }) else { return nil }
        guard let b = s.buffers.first(where: { $0.name == name }) else {
            throw CheckpointError(.unreadable, file: file, "missing '/optimizer/state/\(parameter)/\(name)'")
        }
        guard let v = b.array.float32Values, b.array.shape == shape else {
            throw CheckpointError(.mismatch, file: file, "'/optimizer/state/\(parameter)/\(name)' is \(b.array.values.typeName)\(b.array.shape), expected float32\(shape)")
        }
        return Tensor(shape: shape, values: v)
    }

    public func restore(into sgd: SGD, names: ParameterNames, file: String) throws {
        try restoreGroups(sgd, names, kind: "sgd", file: file)
        let buffers = try groups.enumerated().map { gi, g in
            try g.parameterNames.enumerated().map { pi, n in
                try buffer("momentum_buffer", of: n, shape: sgd.groups[gi].parameters[pi].value.shape, file: file)
            }
        }
        try sgd.restoreMomentumBuffers(buffers)
    }

    public func restore(into adam: Adam, names: ParameterNames, file: String) throws {
        try restoreGroups(adam, names, kind: "adam", file: file)
        let states = try groups.enumerated().map { gi, g in
            try g.parameterNames.enumerated().map { pi, n -> Adam.State? in
                let shape = adam.groups[gi].parameters[pi].value.shape
                guard let m = try buffer("exp_avg", of: n, shape: shape, file: file),
                      let v = try buffer("exp_avg_sq", of: n, shape: shape, file: file) else { return nil }
                guard let t = state.first(where: { $0.parameter == n })?.buffers.first(where: { $0.name == "step" })?.array.int64Values?.first else {
                    throw CheckpointError(.unreadable, file: file, "missing '/optimizer/state/\(n)/step'")
                }
                return Adam.State(step: Int(t), expAvg: m, expAvgSq: v)
            }
        }
        try adam.restoreStates(states)
    }
}
