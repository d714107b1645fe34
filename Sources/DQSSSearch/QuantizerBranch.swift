// QuantizerBranch: one candidate of a DQSS layer side — the §1 uniform quantizer with a fixed threshold
// (a PTQ candidate: Max_Abs, KL, EQ or ADMM), named after the candidate that produced the threshold; on
// the weight side optionally with per-channel thresholds and AdaRound's learned rounding.

import DQSSQuant

public struct QuantizerBranch: Sendable, Codable, Equatable {
    /// Candidate label ("Max_Abs", "KL", "EQ", "ADMM").
    public var name: String
    public var bits: Int
    public var isUnsigned: Bool
    public var threshold: Float
    /// Per output channel T_w (`--weight-granularity channel`, weight side); nil: `threshold`.
    public var channelThresholds: [Float]?
    /// AdaRound's rounding directions of the weight (weight side); nil: round to nearest.
    public var rounding: WeightRounding?

    public init(name: String, quantizer: UniformQuantizer, threshold: Float, channelThresholds: [Float]? = nil,
                rounding: WeightRounding? = nil) {
        self.name = name
        self.bits = quantizer.bits
        self.isUnsigned = quantizer.isUnsigned
        self.threshold = threshold
        self.channelThresholds = channelThresholds
        self.rounding = rounding
    }

    /// Q(x) of `count` elements starting at element `offset` of the tensor (the rounding mask is indexed
    /// by it), with threshold T.
    public func quantize(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int,
                         offset: Int, threshold t: Float) {
        if let rounding {
            rounding.fakeQuantize(x, into: out, count: count, offset: offset, threshold: t, quantizer: quantizer)
        } else {
            quantizer.fakeQuantize(x, into: out, count: count, threshold: t)
        }
    }

    /// The threshold of slice `c` along the first axis (output channel c of a weight).
    public func threshold(channel c: Int) -> Float { channelThresholds?[c] ?? threshold }

    public var quantizer: UniformQuantizer { UniformQuantizer(bits: bits, unsigned: isUnsigned) }

    enum CodingKeys: String, CodingKey {
        case name, bits, threshold
        case isUnsigned = "unsigned"
        case channelThresholds = "channel_thresholds"
        case rounding
    }
}

/// Which quantization point of a layer a mixture sits on (§2.1).
public enum QuantizationSide: String, Sendable, Codable {
    /// The layer input A; logits α.
    case activation
    /// The layer weight W; logits β.
    case weight

    /// "alpha" / "beta": the logits' parameter name.
    public var logitName: String { self == .activation ? "alpha" : "beta" }
}

/// How a mixture turns its logits into mixing weights θ.
public enum MixingMode: Sendable, Equatable {
    /// θ = softmax(logits / τ) (the search).
    case soft
    /// θ = e_argmax (Eq. 6, ties -> lowest index): the derived network.
    case winnerTakeAll
    /// θ = 1/N (DQSS-None, §6.1), whatever the logits.
    case uniform
}
