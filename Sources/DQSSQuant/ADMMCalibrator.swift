// ADMM calibration, ALGORITHMS.md §3.4: ALS scale search (ADMMScale.swift) on W (c = 1.25, K = 1000)
// and on the layer input over all calibration images jointly (c = 2.5, K = 300); above 2^26 elements a
// fixed-seed uniform subsample of 2^26 of them.
//
// Data parallelism: with a multi-rank `communicator` each rank holds the values of its own calibration
// images and every ALS iteration sums ⟨q,x⟩, ⟨q,q⟩ over the ranks (§3.4's streaming form): the same
// threshold as one process up to the rounding of those Double sums. Above the 2^26 limit each rank
// keeps its proportional share of a subsample (a different, equally uniform subsample than one
// process draws).

import DQSSTensor
import DQSSDistributed

public struct ADMMCalibrator: WeightThresholdCalibrator {
    public var sampleLimit: Int
    /// The ranks whose calibration values are solved for jointly (see the file header).
    public var communicator: any Communicator = SingleProcess()
    public init(sampleLimit: Int = ActivationSample.defaultLimit) { self.sampleLimit = sampleLimit }

    public var method: PTQMethod { .admm }
    public var requirements: StatisticRequirements { [.maxAbs, .sample] }

    public func weightThreshold(_ w: Tensor, quantizer: UniformQuantizer) -> Float {
        let r = ADMMScale.solve(w.array, quantizer: quantizer, initDivisor: ADMMScale.weightInit,
                                iterations: ADMMScale.weightIterations)
        return Float(r.threshold)
    }

    public func activationThreshold(_ s: ActivationSample, quantizer: UniformQuantizer) -> Float {
        if communicator.size > 1 {
            // This rank's share of the global limit, proportional to its share of the values.
            let total = communicator.allreduce(s.count, .sum)
            let share = total <= sampleLimit ? s.count
                : Int((Double(sampleLimit) * Double(s.count) / Double(total)).rounded(.down))
            let r = ADMMScale.solve(sorted: s.canonicalValues(limit: share, seed: 0x5EED_ADA1 &+ UInt64(communicator.rank)),
                                    quantizer: quantizer, initDivisor: ADMMScale.activationInit,
                                    iterations: ADMMScale.activationIterations, communicator: communicator)
            return Float(r.threshold)
        }
        let r = ADMMScale.solve(sorted: s.canonicalValues(limit: sampleLimit), quantizer: quantizer,
                                initDivisor: ADMMScale.activationInit,
                                iterations: ADMMScale.activationIterations)
        return Float(r.threshold)
    }

    public func thresholds(for data: LayerCalibrationData) throws -> LayerThresholds {
        let wT = weightThreshold(data.layer.weight.value, quantizer: data.weightQuantizer)
        if let s = data.sample {
            return LayerThresholds(weight: wT, activation: activationThreshold(s, quantizer: data.activationQuantizer))
        }
        if !data.inputs.isEmpty || communicator.size > 1 {
            // The stored inputs are the same values (gathered for EQ): use them without a copy per batch.
            var s = ActivationSample()
            for t in data.inputs { s.observe(t) }
            return LayerThresholds(weight: wT, activation: activationThreshold(s, quantizer: data.activationQuantizer))
        }
        throw CalibrationError.missingStatistic(layer: data.name, method: "admm", what: "activation sample")
    }
}
