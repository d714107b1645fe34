// QATMethod: the four QAT candidates (ALGORITHMS.md §4) in the fixed branch order of a DQSS layer
// [DoReFa, DSQ, LSQ, PACT], their options (the §4 flags) and the factory that builds one quantizer for one
// side of one layer.

public enum QATMethod: String, CaseIterable, Sendable, Codable {
    case dorefa, dsq, lsq, pact

    /// The label used in the paper's tables.
    public var paperName: String {
        switch self {
        case .dorefa: "DoReFa"
        case .dsq: "DSQ"
        case .lsq: "LSQ"
        case .pact: "PACT"
        }
    }
}

/// The §4 variants (defaults = the spec's **Default** choices).
public struct QATOptions: Sendable, Equatable {
    /// DoReFa weights: symmetric 2Q+1 levels (default) or the original 2^b levels without zero
    /// (`--dorefa-weights original`).
    public var dorefaOriginalWeights: Bool = false
    /// DoReFa weights × stop_gradient(max|W|) (default on; `--dorefa-rescale off`).
    public var dorefaRescale: Bool = true
    /// LSQ gradient-scale N: features per sample (default) or the whole batch tensor (`--lsq-grad-n batch`).
    public var lsqGradientPerBatch: Bool = false
    /// PACT activation clip init: the observed M_x (nil, default) or a fixed value (`--pact-init 10`).
    public var pactInit: Float? = nil
    /// PACT weight branch: own learnable symmetric clip a_w (default) or DoReFa (`--pact-weights dorefa`).
    public var pactDoReFaWeights: Bool = false
    /// DSQ initial α_dsq (0.2, original DSQ).
    public var dsqInitialAlpha: Float = 0.2

    public init() {}
}

extension QATMethod {
    /// A fresh quantizer of this candidate for one side of one layer (parameters at their pre-warm-up
    /// values; call `initialize(from:)` with observed statistics).
    public func makeQuantizer(role: QuantizerRole, bits: Int, unsigned: Bool = false,
                              options: QATOptions = QATOptions()) -> any LearnableQuantizer {
        let u = role == .weight ? false : unsigned
        switch self {
        case .dorefa:
            return DoReFaQuantizer(role: role, bits: bits, unsigned: u, originalWeights: options.dorefaOriginalWeights,
                                   rescale: options.dorefaRescale)
        case .dsq:
            return DSQQuantizer(role: role, bits: bits, unsigned: u, initialAlpha: options.dsqInitialAlpha)
        case .lsq:
            return LSQQuantizer(role: role, bits: bits, unsigned: u, gradientPerBatch: options.lsqGradientPerBatch)
        case .pact:
            if role == .weight && options.pactDoReFaWeights {
                return DoReFaQuantizer(role: role, bits: bits, unsigned: false,
                                       originalWeights: options.dorefaOriginalWeights, rescale: options.dorefaRescale,
                                       method: .pact)
            }
            return PACTQuantizer(role: role, bits: bits, unsigned: u, fixedInit: role == .activation ? options.pactInit : nil)
        }
    }
}
