// Errors of the DQSS search module: messages name the layer / candidate at fault.

public enum SearchError: Error, CustomStringConvertible {
    case candidateLayerCount(candidate: String, got: Int, expected: Int)
    case candidateLayerName(candidate: String, index: Int, got: String, expected: String)
    case noCandidates
    case candidateSettings(layer: String, candidate: String, what: String)
    case nonFiniteLoss(step: Int, rank: Int, size: Int, value: Float)

    public var description: String {
        switch self {
        case let .candidateLayerCount(c, got, expected):
            "candidate \(c) has thresholds for \(got) layers, the model has \(expected) quantized layers"
        case let .candidateLayerName(c, i, got, expected):
            "candidate \(c), layer #\(i): thresholds are for '\(got)', the model's layer is '\(expected)'"
        case .noCandidates:
            "a DQSS search needs at least one candidate"
        case let .candidateSettings(layer, c, what):
            "layer '\(layer)': candidate \(c) uses a different \(what) than the first candidate"
        case let .nonFiniteLoss(step, rank, size, value):
            "search step \(step): loss is \(value) on rank \(rank) of \(size) (non-finite input or overflow in this rank's shard)"
        }
    }
}
