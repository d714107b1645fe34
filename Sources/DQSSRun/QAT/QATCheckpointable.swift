// CheckpointableQATNetwork: what a QAT network tells a checkpoint about its quantizers (`/quantization`),
// so that checkpoint code needs no downcast to a concrete model. Two conformances: the DQSS mixture
// (QATMixedModel: every candidate's threshold, α, β, the winners) and one candidate everywhere
// (UniformQATModel: no α/β). A network that does not conform is recorded as one candidate named "QAT"
// with its quantizer parameters and unknown (NaN) thresholds (QATCheckpointing.quantizationState).

import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch
import DQSSCheckpoint

/// A QAT network whose quantizers a checkpoint records and restores.
public protocol CheckpointableQATNetwork: QATNetwork {
    /// The quantizers as `/quantization`: one entry per quantized layer (candidates, thresholds, α/β,
    /// learnable parameters, winners). `temperature`: the mixing temperature τ to record.
    func quantizationState(temperature: Double) -> QuantizationState
    /// Set the mixing temperature τ read from a checkpoint (no effect on a network without a mixture).
    func restoreTemperature(_ temperature: Double)
}

extension CheckpointableQATNetwork {
    public func restoreTemperature(_ temperature: Double) {}
}

/// The `/quantization` view of any QAT network (Checkpoint+QAT.swift).
enum QATCheckpointing {
    /// The network's own description when it is a `CheckpointableQATNetwork`; otherwise one candidate
    /// named "QAT" on every layer with its quantizer parameters and NaN thresholds.
    static func quantizationState(of network: any QATNetwork, temperature: Double) -> QuantizationState {
        if let n = network as? any CheckpointableQATNetwork { return n.quantizationState(temperature: temperature) }
        return singleCandidateState(network, candidate: "QAT", temperature: temperature, activationUnsigned: { _ in false },
                                    activationThreshold: { _ in .nan }, weightThreshold: { _ in .nan })
    }

    /// One candidate on every layer: no α/β; each layer's parameters are those named "<layer>.<name>".
    static func singleCandidateState(_ network: any QATNetwork, candidate: String, temperature: Double,
                                     activationUnsigned: (Int) -> Bool, activationThreshold: (Int) -> Float,
                                     weightThreshold: (Int) -> Float) -> QuantizationState {
        let all = network.quantizerParameters
        return QuantizationState(candidates: [candidate], temperature: temperature,
                                 layers: network.quantizedLayers.enumerated().map { i, l in
            let prefix = l.point.name + "."
            return QuantizedLayerState(
                name: l.point.name, activationBits: l.bits, weightBits: l.bits,
                activationUnsigned: activationUnsigned(i),
                activationThresholds: [activationThreshold(i)],
                weightThresholds: [weightThreshold(i)],
                alpha: [], beta: [],
                parameters: all.filter { $0.name.hasPrefix(prefix) }.map {
                    NamedArray(name: String($0.name.dropFirst(prefix.count)), tensor: $0.parameter.value)
                },
                activationAssignment: candidate, weightAssignment: candidate)
        })
    }
}

extension UniformQATModel: CheckpointableQATNetwork {
    /// The candidate's name, each layer's activation signedness and effective thresholds; no α/β.
    public func quantizationState(temperature: Double) -> QuantizationState {
        QATCheckpointing.singleCandidateState(self, candidate: method.paperName, temperature: temperature,
                             activationUnsigned: { self.activationHooks[$0].quantizer.isUnsigned },
                             activationThreshold: { self.activationHooks[$0].quantizer.effectiveThreshold },
                             weightThreshold: { self.weightHooks[$0].quantizer.effectiveThreshold })
    }
}

extension QATMixedModel: CheckpointableQATNetwork {
    /// Every candidate's effective threshold per side, α and β, the learnable parameters of every branch
    /// ("input_quantizer.<method>.<name>", "weight_quantizer.<method>.<name>") and the winners (Eq. 6).
    public func quantizationState(temperature: Double) -> QuantizationState {
        QuantizationState(candidates: methods.map(\.paperName), temperature: temperature,
                          layers: zip(quantizedLayers, zip(activationHooks, weightHooks)).map { l, hw in
            let (a, w) = hw
            return QuantizedLayerState(
                name: l.point.name, activationBits: l.bits, weightBits: l.bits,
                activationUnsigned: a.branches[0].isUnsigned,
                activationThresholds: a.branches.map(\.effectiveThreshold),
                weightThresholds: w.branches.map(\.effectiveThreshold),
                alpha: a.logits.value.array, beta: w.logits.value.array,
                parameters: a.quantizerParameters.map { NamedArray(name: "input_quantizer." + $0.name, tensor: $0.parameter.value) }
                    + w.quantizerParameters.map { NamedArray(name: "weight_quantizer." + $0.name, tensor: $0.parameter.value) },
                activationAssignment: methods[a.winner].paperName,
                weightAssignment: methods[w.winner].paperName)
        })
    }

    /// τ of every hook (activation and weight).
    public func restoreTemperature(_ temperature: Double) {
        for h in activationHooks + weightHooks { h.temperature = temperature }
    }
}
