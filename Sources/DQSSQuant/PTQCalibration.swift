// PTQCalibration: ALGORITHMS.md §3 end to end for one network: FP32 passes over the calibration images
// with observers on every quantized layer's input, then each requested candidate's (T_w, T_a) per layer.
//
// Passes: one for max|A| (and the stored inputs EQ/ADMM need), a second one only when a histogram is
// needed (KL, MSE, percentile, EQ's KL initialisation). Signedness (§1.1): an activation is unsigned when every
// calibration value of it was ≥ 0 — exactly the tensors fed by ReLU/ReLU6 or a pool/concat/shuffle of
// such in these networks — unless `signedActivations` (TensorRT's always-signed INT8) is set. Weights
// are always signed. All layers, first and last included, use the given bits (§2.2, PTQ default).

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSDistributed

public struct PTQSettings: Sendable {
    public var weightBits: Int
    public var activationBits: Int
    /// Force signed activation quantizers everywhere (`--signed-activations`).
    public var signedActivations: Bool
    /// EQ: use only the first M calibration images (nil: all, the default M = 256).
    public var eqMaxImages: Int?
    /// KL target bins nq for unsigned tensors (128 default; 256 = pytorch-quantization).
    public var klUnsignedBins: Int
    /// One weight threshold per layer (the paper) or per output channel (WeightGranularity.swift).
    public var weightGranularity: WeightGranularity
    /// AdaRound's optimisation (iterations, batch, β, λ, ...) for `adaround` candidates.
    public var adaRound = AdaRoundSettings()

    public init(weightBits: Int = 8, activationBits: Int = 8, signedActivations: Bool = false,
                eqMaxImages: Int? = nil, klUnsignedBins: Int = 128, weightGranularity: WeightGranularity = .tensor) {
        self.weightBits = weightBits
        self.activationBits = activationBits
        self.signedActivations = signedActivations
        self.eqMaxImages = eqMaxImages
        self.klUnsignedBins = klUnsignedBins
        self.weightGranularity = weightGranularity
    }

    /// "W4A8", "W4A8 per-channel": the setting as tables and reports name it.
    public var label: String { "W\(weightBits)A\(activationBits)" + (weightGranularity == .channel ? " per-channel" : "") }

    /// The calibrator for `method` with these settings.
    public func calibrator(_ method: PTQMethod) -> any ThresholdCalibrator {
        let kl = KLCalibrator(unsignedTargetBins: klUnsignedBins)
        switch method {
        case .maxAbs: return MaxAbsCalibrator()
        case .kl: return kl
        case .admm: return ADMMCalibrator()
        case .easyQuant:
            var eq = EasyQuantCalibrator(maxImages: eqMaxImages)
            eq.kl = kl
            return eq
        case .mse: return MSECalibrator()
        case let .percentile(p): return PercentileCalibrator(percentile: p)
        case let .adaRound(base): return AdaRoundCalibrator(base: calibrator(base), settings: adaRound)
        }
    }
}

public final class PTQCalibration {
    public let model: any UnaryLayer
    public let points: [QuantizationPoint]
    public let settings: PTQSettings
    /// Per point, after `gather`.
    public private(set) var observers: [CalibrationObserver] = []
    /// Data parallelism (CalibrationRanks.swift): this process holds only its shard of the calibration
    /// images, the global images firstImage ..< firstImage + (its image count); statistics are combined
    /// over `communicator` so that the thresholds equal those of one process over all images.
    public var communicator: any Communicator = SingleProcess()
    public var firstImage = 0

    public init(model: any UnaryLayer, settings: PTQSettings) {
        self.model = model
        self.points = QuantizedModel.points(of: model)
        self.settings = settings
    }

    /// Run the FP32 calibration passes the `methods` need over `batches` (normalised images).
    /// `progress(message)` is called once per pass.
    public func gather(batches: [Tensor], methods: [PTQMethod], progress: ((String) -> Void)? = nil) {
        var needs: StatisticRequirements = [.maxAbs]
        for m in methods { needs.formUnion(settings.calibrator(m).requirements) }
        let store = needs.contains(.inputs) || needs.contains(.sample)
        model.setTraining(false)
        QuantizedModel.removeHooks(points)
        observers = points.map { _ in CalibrationObserver(storesInputs: store) }
        for (p, o) in zip(points, observers) { p.layer.inputHook = o }
        defer { QuantizedModel.removeHooks(points) }
        let passes = needs.contains(.histogram) ? 2 : 1
        let images = communicator.allreduce(batches.reduce(0) { $0 + $1.shape[0] }, .sum)
        for pass in 0..<passes {
            let start = Date()
            for o in observers { o.pass = pass }
            for b in batches { _ = model.forward(b) }
            // The histogram range of pass 2 is the max|A| over every rank's images.
            if pass == 0 { CalibrationObserver.combineFirstPass(observers, communicator: communicator) }
            if pass == 1 { CalibrationObserver.combineHistograms(observers, communicator: communicator) }
            progress?(String(format: "calibration pass %d/%d (%@) over %d images: %.1f s", pass + 1, passes,
                             pass == 0 ? (store ? "max|A|, stored inputs" : "max|A|") : "|A| histograms",
                             images, Date().timeIntervalSince(start)))
        }
    }

    /// Whether point `i`'s activation quantizer is unsigned (§1.1).
    public func activationUnsigned(_ i: Int) -> Bool {
        !settings.signedActivations && observers[i].isNonNegative
    }

    /// The calibration data of point `i` (after `gather`).
    public func data(_ i: Int) -> LayerCalibrationData {
        let o = observers[i]
        return LayerCalibrationData(
            name: points[i].name, layer: points[i].layer,
            weightQuantizer: UniformQuantizer(bits: settings.weightBits),
            activationQuantizer: UniformQuantizer(bits: settings.activationBits, unsigned: activationUnsigned(i)),
            maxAbs: o.maxAbs, histogram: o.histogram, sample: nil, inputs: o.inputs)
    }

    /// (T_w, T_a) of every layer for one candidate. `progress(layer index, name)` before each layer.
    /// AdaRound reports every ~1,000 iterations through `detail` (layer index, message).
    public func assignments(for method: PTQMethod,
                            progress: ((Int, String) -> Void)? = nil,
                            detail: ((Int, String) -> Void)? = nil) throws -> [LayerQuantization] {
        precondition(observers.count == points.count, "gather() before assignments()")
        let calibrator = sharded(settings.calibrator(method))
        var out: [LayerQuantization] = []
        for i in points.indices {
            progress?(i, points[i].name)
            let d = data(i)
            var t = try calibrator.thresholds(for: d)
            if settings.weightGranularity == .channel {
                t.weightChannels = try calibrator.channelWeightThresholds(for: d, tensor: t)
            }
            t = try calibrator.finish(t, for: d, progress: detail.map { f in { f(i, $0) } })
            out.append(LayerQuantization(name: points[i].name, weightBits: settings.weightBits,
                                         activationBits: settings.activationBits,
                                         activationUnsigned: activationUnsigned(i), thresholds: t))
        }
        return out
    }

    /// `calibrator` set up for this process's shard (EQ and ADMM combine over the ranks themselves).
    func sharded(_ calibrator: any ThresholdCalibrator) -> any ThresholdCalibrator {
        if var eq = calibrator as? EasyQuantCalibrator {
            eq.communicator = communicator
            eq.firstImage = firstImage
            return eq
        }
        if var admm = calibrator as? ADMMCalibrator {
            admm.communicator = communicator
            return admm
        }
        if var ada = calibrator as? AdaRoundCalibrator {
            ada.base = sharded(ada.base)
            ada.communicator = communicator
            return ada
        }
        return calibrator
    }

    /// Free the stored calibration inputs.
    public func releaseInputs() { for o in observers { o.releaseInputs() } }
}
