// StrategyAssignment: the per-layer result of a DQSS search (ALGORITHMS.md §6 step 5, Eq. 6): for each
// quantized layer, the winning activation candidate i* = argmax α and weight candidate j* = argmax β
// (ties -> the lowest index), stored with α, β themselves (the checkpoint of §11.7 "Derivation").

import DQSSQuant

public struct LayerStrategy: Sendable, Codable, Equatable {
    /// Dotted layer name ("layer1.0.conv1").
    public var name: String
    /// i* and j*: indices into `StrategyAssignment.candidates`.
    public var activation: Int
    public var weight: Int
    public var activationCandidate: String
    public var weightCandidate: String
    public var activationThreshold: Float
    public var weightThreshold: Float
    public var alpha: [Float]
    public var beta: [Float]
}

public struct StrategyAssignment: Sendable, Codable, Equatable {
    /// Candidate labels in branch order ("Max_Abs", "KL", "EQ", "ADMM").
    public var candidates: [String]
    public var layers: [LayerStrategy]

    /// Fig. 4: number of layers whose activation (weight) winner is each candidate, in candidate order.
    public var activationCounts: [Int] { candidates.indices.map { c in layers.filter { $0.activation == c }.count } }
    public var weightCounts: [Int] { candidates.indices.map { c in layers.filter { $0.weight == c }.count } }
}
