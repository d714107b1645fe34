// AdaRound as a PTQ candidate (`adaround[:B]`): the activation and weight thresholds of base candidate B
// (per tensor, or per output channel with `--weight-granularity channel`), then the weights' rounding
// learned per layer (AdaRound.swift) against those thresholds. A layer's result is B's LayerThresholds
// plus `weightRounding`; every consumer of thresholds (fake-quant hooks, the DQSS weight mixture,
// checkpoints, assignment.json, export) applies the rounding where it is present.

import Foundation
import DQSSTensor
import DQSSDistributed

public struct AdaRoundCalibrator: ThresholdCalibrator {
    public var base: any ThresholdCalibrator
    public var settings: AdaRoundSettings
    /// Ranks of a distributed calibration (each holds its shard of the stored inputs).
    public var communicator: any Communicator = SingleProcess()

    public init(base: any ThresholdCalibrator, settings: AdaRoundSettings = AdaRoundSettings()) {
        self.base = base
        self.settings = settings
    }

    public var method: PTQMethod { .adaRound(base.method) }
    public var requirements: StatisticRequirements { base.requirements.union(.inputs) }

    public func thresholds(for data: LayerCalibrationData) throws -> LayerThresholds {
        try base.thresholds(for: data)
    }

    public func channelWeightThresholds(for data: LayerCalibrationData, tensor: LayerThresholds) throws -> [Float] {
        try base.channelWeightThresholds(for: data, tensor: tensor)
    }

    public func finish(_ thresholds: LayerThresholds, for data: LayerCalibrationData,
                       progress: ((String) -> Void)?) throws -> LayerThresholds {
        var t = try base.finish(thresholds, for: data, progress: progress)
        if communicator.allreduce(data.inputs.reduce(0) { $0 + $1.shape[0] }, .sum) == 0 {
            throw CalibrationError.missingStatistic(layer: data.name, method: method.rawValue, what: "stored FP32 inputs")
        }
        let (rounding, report) = AdaRound.learn(
            layer: data.layer, inputs: data.inputs, quantizer: data.weightQuantizer,
            thresholds: t.appliedWeightThresholds, settings: settings, communicator: communicator,
            progress: progress.map { p in { i, loss in p(String(format: "AdaRound %d/%d, reconstruction loss %.4g", i, settings.iterations, loss)) } })
        progress?(String(format: "AdaRound done: reconstruction %.4g (nearest %.4g), %d of %d weights rounded the other way, %.1f s",
                         report.learnedLoss, report.nearestLoss, report.flips, rounding.count, report.seconds)
                  + (report.patchGram ? " (patch Grams)" : ""))
        t.weightRounding = rounding
        return t
    }
}
