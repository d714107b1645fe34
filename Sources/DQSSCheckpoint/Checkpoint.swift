// Checkpoint: everything a dqss run needs to continue exactly where it stopped, as one value.
// `CheckpointWriter` puts it into an HDF5 file (layout in docs/checkpoint.md), `CheckpointReader`
// gets it back and refuses files that do not belong to the run being resumed.
//
// Nothing here refers to live objects: capture helpers (Checkpoint+Capture.swift) copy the state out
// of a model, a MixedQuantizedModel and an optimizer, and restore helpers copy it back in by name.

import DQSSQuant

/// A named array: a state_dict entry, an optimizer buffer, a quantizer parameter.
public struct NamedArray: Sendable, Equatable {
    public var name: String
    public var array: HDF5Array
    public init(name: String, array: HDF5Array) { self.name = name; self.array = array }
}

/// Where training is: enough to continue the same sequence of batches.
public struct TrainingProgress: Sendable, Equatable, Codable {
    /// The epoch the next step belongs to (0-based).
    public var epoch: Int
    /// Optimizer steps completed since the start of the run (global: the same on every rank).
    public var step: Int
    /// Samples of `epoch` already consumed, counted over the global batch (BatchIterator.Position.cursor).
    public var dataCursor: Int
    /// Samples per optimizer step over all ranks; resuming needs the same global batch.
    public var globalBatch: Int

    public init(epoch: Int, step: Int, dataCursor: Int, globalBatch: Int) {
        self.epoch = epoch; self.step = step; self.dataCursor = dataCursor; self.globalBatch = globalBatch
    }
}

/// One random stream (xoshiro256** state, `RNG.state`).
public struct RNGStreamState: Sendable, Equatable {
    public var name: String
    public var state: [UInt64]
    public init(name: String, state: [UInt64]) { self.name = name; self.state = state }
}

/// The DQSS side of one quantized layer: its N activation and N weight candidates, α, β, and the
/// winner-take-all assignment derived from them.
public struct QuantizedLayerState: Sendable, Equatable {
    /// Dotted layer name ("layer1.0.conv1").
    public var name: String
    public var activationBits: Int
    public var weightBits: Int
    public var activationUnsigned: Bool
    /// Threshold of each candidate, in candidate order (T_a, T_w; NaN for a candidate without one).
    public var activationThresholds: [Float]
    public var weightThresholds: [Float]
    /// Per candidate, T_w of every output channel (`--weight-granularity channel`); nil: per tensor.
    public var weightChannelThresholds: [[Float]]?
    /// Per candidate, AdaRound's rounding of the weight (nil entries: round to nearest); nil: no candidate has one.
    public var weightRoundings: [WeightRounding?]?
    /// Architecture logits α (activation side) and β (weight side), in candidate order.
    public var alpha: [Float]
    public var beta: [Float]
    /// Learnable quantizer parameters by name ("activation.LSQ.s", "weight.PACT.a"); empty for PTQ.
    public var parameters: [NamedArray]
    /// Current winner-take-all candidates (Eq. 6) as candidate names.
    public var activationAssignment: String
    public var weightAssignment: String

    public init(name: String, activationBits: Int, weightBits: Int, activationUnsigned: Bool,
                activationThresholds: [Float], weightThresholds: [Float], alpha: [Float], beta: [Float],
                parameters: [NamedArray] = [], activationAssignment: String, weightAssignment: String,
                weightChannelThresholds: [[Float]]? = nil, weightRoundings: [WeightRounding?]? = nil) {
        self.weightChannelThresholds = weightChannelThresholds
        self.weightRoundings = weightRoundings
        self.name = name; self.activationBits = activationBits; self.weightBits = weightBits
        self.activationUnsigned = activationUnsigned
        self.activationThresholds = activationThresholds; self.weightThresholds = weightThresholds
        self.alpha = alpha; self.beta = beta; self.parameters = parameters
        self.activationAssignment = activationAssignment; self.weightAssignment = weightAssignment
    }
}

/// Every quantizer of the run: candidate names, softmax temperature, one entry per quantized layer.
public struct QuantizationState: Sendable, Equatable {
    /// Candidate labels in branch order ("Max_Abs", "KL", "EQ", "ADMM").
    public var candidates: [String]
    /// Softmax temperature τ at save time.
    public var temperature: Double
    /// In module order.
    public var layers: [QuantizedLayerState]

    public init(candidates: [String], temperature: Double, layers: [QuantizedLayerState]) {
        self.candidates = candidates; self.temperature = temperature; self.layers = layers
    }
}

/// One optimizer parameter group: its settings at save time and its members by name.
public struct OptimizerGroupState: Sendable, Equatable {
    public var name: String
    /// The lr the next step would use, and the lr the schedule scales.
    public var lr: Float
    public var baseLR: Float
    public var momentum: Float
    public var weightDecay: Float
    public var nesterov: Bool
    /// Parameter names in group order.
    public var parameterNames: [String]

    public init(name: String, lr: Float, baseLR: Float, momentum: Float, weightDecay: Float, nesterov: Bool,
                parameterNames: [String]) {
        self.name = name; self.lr = lr; self.baseLR = baseLR; self.momentum = momentum
        self.weightDecay = weightDecay; self.nesterov = nesterov; self.parameterNames = parameterNames
    }
}

/// Per-parameter optimizer buffers (PyTorch's optimizer.state[p]): "momentum_buffer" for SGD;
/// "exp_avg", "exp_avg_sq", "step" for Adam. A parameter never updated has no entry.
public struct ParameterOptimizerState: Sendable, Equatable {
    public var parameter: String
    public var buffers: [NamedArray]
    public init(parameter: String, buffers: [NamedArray]) { self.parameter = parameter; self.buffers = buffers }
}

public struct OptimizerState: Sendable, Equatable {
    /// "sgd" or "adam".
    public var kind: String
    /// The time t last given to the lr schedules (`Optimizer.setEpoch`), in epochs.
    public var scheduleTime: Double
    public var groups: [OptimizerGroupState]
    public var state: [ParameterOptimizerState]

    public init(kind: String, scheduleTime: Double, groups: [OptimizerGroupState], state: [ParameterOptimizerState]) {
        self.kind = kind; self.scheduleTime = scheduleTime; self.groups = groups; self.state = state
    }
}

/// A named text (JSON) value of a trainer section.
public struct NamedText: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) { self.name = name; self.value = value }
}

/// State specific to one training loop (QATTrainer: epoch sums, history, observed statistics), as
/// arrays and texts under `/trainer`.
public struct TrainerSection: Sendable, Equatable {
    /// Which loop wrote it ("qat").
    public var kind: String
    public var arrays: [NamedArray]
    public var texts: [NamedText]
    public init(kind: String, arrays: [NamedArray] = [], texts: [NamedText] = []) {
        self.kind = kind; self.arrays = arrays; self.texts = texts
    }
    public func array(_ name: String) -> HDF5Array? { arrays.first { $0.name == name }?.array }
    public func text(_ name: String) -> String? { texts.first { $0.name == name }?.value }
}

public struct Checkpoint: Sendable, Equatable {
    /// Written as the root attribute `format`; a file without it is not a dqss checkpoint.
    public static let formatName = "dqss-checkpoint"
    /// Bumped whenever the layout changes incompatibly; readers refuse other versions.
    public static let formatVersion = 1

    /// Model zoo name ("resnet20", "tiny").
    public var model: String
    /// What was running: "qat", "search-ptq", "search-qat", "train".
    public var task: String
    /// The command line that started the run (informational).
    public var commandLine: String
    /// The run's settings as a JSON object (the resumed run compares what matters).
    public var config: String
    /// Number of ranks at save time.
    public var worldSize: Int
    public var progress: TrainingProgress
    public var rngStates: [RNGStreamState]
    /// Every parameter and buffer of the model by state_dict name, in module order (float32).
    public var stateDict: [NamedArray]
    public var quantization: QuantizationState?
    public var optimizer: OptimizerState?
    public var trainer: TrainerSection?

    public init(model: String, task: String, commandLine: String = "", config: String = "{}", worldSize: Int = 1,
                progress: TrainingProgress, rngStates: [RNGStreamState] = [], stateDict: [NamedArray],
                quantization: QuantizationState? = nil, optimizer: OptimizerState? = nil, trainer: TrainerSection? = nil) {
        self.model = model; self.task = task; self.commandLine = commandLine; self.config = config
        self.worldSize = worldSize; self.progress = progress; self.rngStates = rngStates
        self.stateDict = stateDict; self.quantization = quantization; self.optimizer = optimizer
        self.trainer = trainer
    }

    /// The RNG stream `name`, if saved.
    public func rngState(_ name: String) -> [UInt64]? { rngStates.first { $0.name == name }?.state }
}

extension Checkpoint {
    /// The object path of the first tensor holding Inf or NaN ("/model/bn2.running_var"), or nil.
    /// Checked: every state_dict entry, α, β and learnable quantizer parameters, optimizer buffers and lr
    /// settings. Not checked, because non-finite values are meaningful there: candidate thresholds (NaN is
    /// "this candidate has none") and trainer arrays (an unobserved minimum is +Inf).
    public func firstNonFinite() -> String? {
        func finite(_ a: HDF5Array) -> Bool {
            switch a.values {
            case let .float32(v): v.allSatisfy(\.isFinite)
            case let .float64(v): v.allSatisfy(\.isFinite)
            case .int64, .uint64: true
            }
        }
        for t in stateDict where !finite(t.array) { return "/model/\(t.name)" }
        for l in quantization?.layers ?? [] {
            let base = "/quantization/layers/\(l.name)"
            if !l.alpha.allSatisfy(\.isFinite) { return base + "/alpha" }
            if !l.beta.allSatisfy(\.isFinite) { return base + "/beta" }
            for p in l.parameters where !finite(p.array) { return base + "/parameters/\(p.name)" }
        }
        if let o = optimizer {
            for g in o.groups where ![g.lr, g.baseLR, g.momentum, g.weightDecay].allSatisfy(\.isFinite) {
                return "/optimizer/groups/\(g.name)"
            }
            for s in o.state {
                for b in s.buffers where !finite(b.array) { return "/optimizer/state/\(s.parameter)/\(b.name)" }
            }
        }
        return nil
    }
}
