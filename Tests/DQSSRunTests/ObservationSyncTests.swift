// Warm-up observations in data-parallel QAT: combined per observed batch (--sync-bn's ObservationReducer)
// and combined at the end of the warm-up (GradientReducer.synchronizeStatistics), after which the
// activation quantizers must be derived from the COMBINED statistics, not from this replica's own.

import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSRun

/// The "other replica" of a two-replica run, precomputed: combining adds its batch to ours.
private final class OtherHalf: ObservationReducer {
    let other: BatchObservation
    private(set) var calls = 0
    init(_ other: BatchObservation) { self.other = other }
    func combine(_ local: BatchObservation) -> BatchObservation {
        calls += 1
        return BatchObservation(maxAbs: max(local.maxAbs, other.maxAbs), minimum: min(local.minimum, other.minimum),
                                sumAbs: local.sumAbs + other.sumAbs, count: local.count + other.count)
    }
}

/// A GradientReducer whose "other ranks" saw twice the magnitudes (statistics only).
private final class LargerElsewhere: GradientReducer {
    func reduceGradients(_ parameters: [Parameter]) throws {}
    func reduceMetrics(_ values: [Double]) throws -> [Double] { values }
    func synchronizeStatistics(_ statistics: [TensorStatistics]) throws -> [TensorStatistics] {
        statistics.map { var s = $0; s.maxAbs *= 2; s.meanAbs *= 2; return s }
    }
}

private func slice(_ x: Tensor, _ from: Int, _ count: Int) -> Tensor {
    let per = x.count / x.n
    let out = Tensor(shape: [count] + x.shape.dropFirst())
    out.data.update(from: x.data + from * per, count: count * per)
    return out
}

@Suite("QAT observations across replicas")
struct ObservationSyncTests {
    @Test("a half-batch observation combined with the other half = the whole batch's (LSQ s, PACT a, signedness)")
    func combinedHalfEqualsWhole() {
        var rng = RNG(seed: 31)
        let x = Tensor.uniform([4, 3, 5, 5], -0.5, 2, rng: &rng)
        let first = slice(x, 0, 2), second = slice(x, 2, 2)
        for make in [{ LSQQuantizer(role: .activation, bits: 4) as any LearnableQuantizer },
                     { PACTQuantizer(role: .activation, bits: 4) as any LearnableQuantizer }] {
            let whole = QATQuantHook(quantizer: make())
            whole.observing = true
            _ = whole.forward(x)
            let half = QATQuantHook(quantizer: make())
            let reducer = OtherHalf(BatchObservation(second.data, count: second.count))
            half.observationReducer = reducer
            half.observing = true
            _ = half.forward(first)
            #expect(reducer.calls == 1)
            #expect(half.statistics.maxAbs == whole.statistics.maxAbs && half.statistics.minimum == whole.statistics.minimum)
            #expect(abs(half.statistics.meanAbs - whole.statistics.meanAbs) <= 1e-6 * whole.statistics.meanAbs)
            #expect(half.quantizer.isUnsigned == whole.quantizer.isUnsigned)
            let t = whole.quantizer.effectiveThreshold
            #expect(abs(half.quantizer.effectiveThreshold - t) <= 1e-6 * t)

            // Without the reducer the half sees another batch (the comparison above can fail).
            let alone = QATQuantHook(quantizer: make())
            alone.observing = true
            _ = alone.forward(first)
            #expect(alone.statistics.meanAbs != whole.statistics.meanAbs)
        }
    }

    @Test("end of warm-up: activation quantizers are re-derived from the statistics combined over ranks")
    func activationQuantizersFollowCombinedStatistics() throws {
        let s = TinyQATSetup()
        let net = UniformQATModel(model: s.model, method: .pact)
        let trainer = QATTrainer(network: net, configuration: s.configuration(epochs: 0, warmup: 1),
                                 trainData: EpochBatchSource(s.train), reducer: LargerElsewhere())
        try trainer.run()
        for (k, h) in net.activationHooks.enumerated() {
            // PACT a = M_x of the combined statistics (2× this replica's), not this replica's own M_x.
            #expect(h.quantizer.effectiveThreshold == max(h.statistics.maxAbs, learnableQuantizerFloor), "layer \(k)")
            #expect(h.statistics.maxAbs > 0)
        }
    }
}
