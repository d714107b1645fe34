// AssignmentDocument: a per-layer quantization strategy — for every quantized layer the activation and the
// weight candidate chosen, with the thresholds `dqss export` needs — as ONE schema for every producer:
// assignment.json of `dqss search --mode ptq --out` (the final, selected and refined assignment), the
// derived assignment of a checkpoint (`dqss export --from CKPT --format json`), and the `assignment` list
// of the search reports (search.json, `dqss search --mode qat --json`, sr-search.json). The reader is
// DQSSExport's SearchAssignmentSource.
//
// Version 2 names the choices by candidate label in `activation`/`weight` (version 1 of the checkpoint
// export had indices there and the labels in `activation_candidate`/`weight_candidate`; a version-1 PTQ
// assignment.json, which had labels in both, still reads).

import Foundation
import DQSSSearch
import DQSSQuant

/// One quantized layer of an assignment (Conv2d/Linear, module order).
public struct AssignmentLayer: Codable, Sendable, Equatable {
    /// Dotted layer name ("layer1.0.conv1").
    public var name: String
    /// "Conv2d", "Linear" (search reports).
    public var kind: String?
    /// The chosen candidates' labels ("KL", "LSQ") for the input activation and the weight.
    public var activation: String
    public var weight: String
    /// The chosen candidates' thresholds T_a, T_w.
    public var activationThreshold: Float
    public var weightThreshold: Float
    /// T_w per output channel (`--weight-granularity channel`); absent: `weight_threshold` for the whole tensor.
    public var weightChannelThresholds: [Float]?
    /// AdaRound's rounding of the weight ({"count", "up": base64 bits}); absent: round to nearest.
    public var weightRounding: WeightRounding?
    /// Quantizer settings (else the document's defaults apply).
    public var activationUnsigned: Bool?
    public var activationBits: Int?
    public var weightBits: Int?
    /// The logits α, β at the end of the search, in candidate order.
    public var alpha: [Float]?
    public var beta: [Float]?
    /// θ = softmax(α/τ), softmax(β/τ) at the final τ (PTQ search).
    public var thetaActivation: [Double]?
    public var thetaWeight: [Double]?
    /// Top minus second θ at the final τ: how decisive each choice is (QAT search).
    public var activationMargin: Double?
    public var weightMargin: Double?
    /// The search's own winner-take-all choice (Eq. 6), before selection and refinement (PTQ search).
    public var derivedActivation: String?
    public var derivedWeight: String?

    public init(name: String, kind: String? = nil, activation: String, weight: String,
                activationThreshold: Float, weightThreshold: Float, activationUnsigned: Bool? = nil,
                activationBits: Int? = nil, weightBits: Int? = nil, alpha: [Float]? = nil, beta: [Float]? = nil,
                thetaActivation: [Double]? = nil, thetaWeight: [Double]? = nil,
                activationMargin: Double? = nil, weightMargin: Double? = nil,
                derivedActivation: String? = nil, derivedWeight: String? = nil, weightChannelThresholds: [Float]? = nil,
                weightRounding: WeightRounding? = nil) {
        self.name = name
        self.weightRounding = weightRounding
        self.weightChannelThresholds = weightChannelThresholds
        self.kind = kind
        self.activation = activation
        self.weight = weight
        self.activationThreshold = activationThreshold
        self.weightThreshold = weightThreshold
        self.activationUnsigned = activationUnsigned
        self.activationBits = activationBits
        self.weightBits = weightBits
        self.alpha = alpha
        self.beta = beta
        self.thetaActivation = thetaActivation
        self.thetaWeight = thetaWeight
        self.activationMargin = activationMargin
        self.weightMargin = weightMargin
        self.derivedActivation = derivedActivation
        self.derivedWeight = derivedWeight
    }

    /// A search's winner-take-all layer (Eq. 6) with its α, β.
    public init(_ l: LayerStrategy) {
        self.init(name: l.name, activation: l.activationCandidate, weight: l.weightCandidate,
                  activationThreshold: l.activationThreshold, weightThreshold: l.weightThreshold, alpha: l.alpha, beta: l.beta)
    }

    /// Candidate label -> how many of `labels` name it, every candidate listed (the counts of Fig. 4).
    public static func counts(_ labels: [String], candidates: [String]) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: candidates.map { c in (c, labels.filter { $0 == c }.count) })
    }
}

/// assignment.json (file header).
public struct AssignmentDocument: Codable, Sendable, Equatable {
    public static let formatName = "dqss-assignment"
    public static let currentVersion = 2

    public var format: String? = AssignmentDocument.formatName
    public var version: Int? = AssignmentDocument.currentVersion
    /// Where the assignment comes from ("derived (winner-take-all of the annealed search)", a checkpoint path).
    public var source: String?
    /// Model and weights the assignment was searched for (nil when the producer did not record them).
    public var model: String?
    public var weights: String?
    /// A checkpoint's task and step, and the temperature θ would be taken at.
    public var task: String?
    public var step: Int?
    public var temperature: Double?
    /// Candidate labels in branch order.
    public var candidates: [String]?
    /// Defaults for layers that do not state their bit widths or signedness.
    public var weightBits: Int?
    public var activationBits: Int?
    public var signedActivations: Bool?
    public var layers: [AssignmentLayer]

    public init(source: String?, model: String? = nil, weights: String? = nil, task: String? = nil, step: Int? = nil,
                temperature: Double? = nil, candidates: [String]?, weightBits: Int? = nil, activationBits: Int? = nil,
                signedActivations: Bool? = nil, layers: [AssignmentLayer]) {
        self.source = source
        self.model = model
        self.weights = weights
        self.task = task
        self.step = step
        self.temperature = temperature
        self.candidates = candidates
        self.weightBits = weightBits
        self.activationBits = activationBits
        self.signedActivations = signedActivations
        self.layers = layers
    }

    /// The document in the file at `url`.
    public static func read(from url: URL) throws -> AssignmentDocument {
        try decodeJSON(try Data(contentsOf: url))
    }
}
