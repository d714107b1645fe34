// CheckpointSummaryDocument: the JSON of `dqss inspect --json` — the run a checkpoint belongs to (model,
// task, world size, command line, its configuration as the run wrote it), the position (epoch, step,
// data cursor), the RNG streams, the sizes of the state_dict, the optimizer groups, and per quantized
// layer the winners, α, β, θ = softmax(logit/τ) and every candidate's thresholds.
//
// α, β and θ are written as the Double values θ was computed from (so that a reader recomputes θ
// exactly); thresholds as float32, like every other document's; non-finite values as null.

import DQSSCheckpoint

public struct CheckpointSummaryDocument: Encodable {
    public struct Progress: Encodable { public var epoch, step, dataCursor, globalBatch: Int }
    public struct StateDict: Encodable { public var tensors, values: Int }
    public struct OptimizerGroup: Encodable {
        public var name: String
        public var lr, baseLr, momentum, weightDecay: Double
        public var nesterov: Bool
        /// Number of parameters in the group.
        public var parameters: Int
    }
    public struct Optimizer: Encodable {
        public var kind: String
        public var scheduleTime: Double
        public var parametersWithState: Int
        public var groups: [OptimizerGroup]
    }
    public struct Layer: Encodable {
        public var name: String
        public var weightBits, activationBits: Int
        public var activationUnsigned: Bool
        /// The current winners' labels.
        public var activation, weight: String
        public var alpha, beta, thetaAlpha, thetaBeta: [Double]
        public var activationThresholds, weightThresholds: [Float?]
        /// The quantizers' own parameters by name: float32 values, or the stored type's name.
        public var parameters: [String: JSONValue]
    }
    public struct Quantization: Encodable {
        public var candidates: [String]
        public var temperature: Double
        public var layers: [Layer]
    }

    public var file: String
    public var format: String
    public var formatVersion: Int
    public var model: String
    public var task: String
    public var worldSize: Int
    public var commandLine: String
    /// The run's configuration (parsed when it is JSON, else the text).
    public var config: JSONValue
    public var progress: Progress
    public var rngStreams: [String]
    public var stateDict: StateDict
    public var optimizer: Optimizer?
    public var quantization: Quantization?

    public init(_ c: Checkpoint, file: String) {
        func finite(_ v: Float) -> Float? { v.isFinite ? v : nil }
        self.file = file
        format = Checkpoint.formatName
        formatVersion = Checkpoint.formatVersion
        model = c.model
        task = c.task
        worldSize = c.worldSize
        commandLine = c.commandLine
        config = JSONValue(parsing: c.config)
        progress = Progress(epoch: c.progress.epoch, step: c.progress.step, dataCursor: c.progress.dataCursor,
                            globalBatch: c.progress.globalBatch)
        rngStreams = c.rngStates.map(\.name)
        stateDict = StateDict(tensors: c.stateDict.count, values: c.stateDict.reduce(0) { $0 + $1.array.values.count })
        optimizer = c.optimizer.map { o in
            Optimizer(kind: o.kind, scheduleTime: o.scheduleTime, parametersWithState: o.state.count, groups: o.groups.map { g in
                OptimizerGroup(name: g.name, lr: Double(g.lr), baseLr: Double(g.baseLR), momentum: Double(g.momentum),
                               weightDecay: Double(g.weightDecay), nesterov: g.nesterov, parameters: g.parameterNames.count)
            })
        }
        quantization = c.quantization.map { q in
            Quantization(candidates: q.candidates, temperature: q.temperature, layers: q.layers.map { l in
                Layer(name: l.name, weightBits: l.weightBits, activationBits: l.activationBits,
                      activationUnsigned: l.activationUnsigned, activation: l.activationAssignment, weight: l.weightAssignment,
                      alpha: l.alpha.map(Double.init), beta: l.beta.map(Double.init),
                      thetaAlpha: CheckpointSummary.theta(l.alpha, temperature: q.temperature),
                      thetaBeta: CheckpointSummary.theta(l.beta, temperature: q.temperature),
                      activationThresholds: l.activationThresholds.map(finite), weightThresholds: l.weightThresholds.map(finite),
                      parameters: Dictionary(uniqueKeysWithValues: l.parameters.map { p in
                          (p.name, p.array.float32Values.map { .array($0.map { $0.isFinite ? .number(Double($0)) : .null }) }
                                   ?? .string(p.array.values.typeName))
                      }))
            })
        }
    }
}
