// SRModelZoo: the super-resolution networks behind `dqss sr-eval --model NAME` and `dqss search --task sr`.
//
// All take RGB in [0, 1] (no normalisation) and return RGB at `scale` times the size. Checkpoint names:
// IMDN's official x4 checkpoint carries nn.DataParallel's "module." prefix (stripped when present);
// BasicSR checkpoints store the plain names under `params` (the converted safetensors hold them directly).

import Foundation
import DQSSTensor
import DQSSLayers

public struct SRModelSpec: Sendable {
    /// Command-line name ("imdn").
    public let name: String
    public let scale: Int
    /// Prefix removed from checkpoint names that carry it.
    public let weightPrefix: String?
    /// Largest distance (LR pixels) an output pixel's inputs can lie from it, nil when unbounded (IMDN's
    /// channel attention pools over the whole image). Tiled inference is exact with overlap ≥ this.
    public let receptiveRadius: Int?
    private let build: @Sendable (inout RNG) -> any UnaryLayer

    public init(name: String, scale: Int, weightPrefix: String?, receptiveRadius: Int?,
                build: @escaping @Sendable (inout RNG) -> any UnaryLayer) {
        self.name = name
        self.scale = scale
        self.weightPrefix = weightPrefix
        self.receptiveRadius = receptiveRadius
        self.build = build
    }

    /// A freshly initialised network in evaluation mode.
    public func make(seed: UInt64 = 0) -> any UnaryLayer {
        var rng = RNG(seed: seed)
        let m = build(&rng)
        m.setTraining(false)
        return m
    }

    /// Build and strictly load `url` (every parameter present with its shape, nothing extra).
    public func load(weights url: URL) throws -> any UnaryLayer {
        let m = make()
        try loadWeights(into: m, from: url, stripPrefix: weightPrefix)
        return m
    }
}

public enum SRModelZoo {
    public static let all: [SRModelSpec] = [
        SRModelSpec(name: "imdn", scale: 4, weightPrefix: "module.", receptiveRadius: nil) { IMDN(rng: &$0) },
        // 1 (conv_first) + 32 (body) + 1 (upconv1) at LR; upconv2, conv_hr, conv_last at 2x/4x add < 2.
        SRModelSpec(name: "msrresnet", scale: 4, weightPrefix: nil, receptiveRadius: 36) { MSRResNet(rng: &$0) },
        // 1 + 32 + 1 (conv_after_body) + 1 (upsample.0) at LR; upsample.2 and conv_last add < 1.
        SRModelSpec(name: "edsr", scale: 4, weightPrefix: nil, receptiveRadius: 36) { EDSR(rng: &$0) },
    ]

    public static var names: [String] { all.map(\.name) }

    public static func spec(named name: String) throws -> SRModelSpec {
        guard let s = all.first(where: { $0.name == name }) else {
            throw ModelError("unknown SR model \"\(name)\" (known: \(names.joined(separator: ", ")))")
        }
        return s
    }
}
