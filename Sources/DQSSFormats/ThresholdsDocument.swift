// ThresholdsDocument: the file of `dqss ptq --save-thresholds` — every quantized layer's quantization
// (bit widths, signedness, T_w and T_a) per PTQ method, with the calibration that produced them. Read by
// DQSSExport's PTQThresholdsSource (`dqss export --from FILE --method M`).

import Foundation
import DQSSQuant

public struct ThresholdsDocument: Codable, Sendable, Equatable {
    public var model: String
    public var weights: String
    /// How the thresholds were calibrated (nil in files written by hand).
    public var calibrationSplit: String?
    public var calibrationImages: Int?
    public var seed: UInt64?
    public var weightBits: Int?
    public var activationBits: Int?
    public var signedActivations: Bool?
    /// Method name ("maxabs", "kl", "easyquant", "admm") -> per-layer quantization, in module order.
    public var methods: [String: [LayerQuantization]]

    public init(model: String, weights: String, calibrationSplit: String? = nil, calibrationImages: Int? = nil,
                seed: UInt64? = nil, weightBits: Int? = nil, activationBits: Int? = nil, signedActivations: Bool? = nil,
                methods: [String: [LayerQuantization]]) {
        self.model = model
        self.weights = weights
        self.calibrationSplit = calibrationSplit
        self.calibrationImages = calibrationImages
        self.seed = seed
        self.weightBits = weightBits
        self.activationBits = activationBits
        self.signedActivations = signedActivations
        self.methods = methods
    }
}
