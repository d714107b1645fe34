// ArchitectureMixture: what every side of the DQSS operator shares, PTQ (MixedQuantHook) and QAT
// (QATMixedQuantHook): N architecture logits (α or β), a mixing mode and a softmax temperature, from which
// θ, the winner (Eq. 6) and how decisive it is follow. One definition, so the two searches cannot drift.

import DQSSLayers

public protocol ArchitectureMixture: AnyObject {
    /// α (activation side) or β (weight side), shape [N].
    var logits: Parameter { get }
    var mode: MixingMode { get }
    /// Softmax temperature τ > 0.
    var temperature: Double { get }
}

extension ArchitectureMixture {
    public var count: Int { logits.value.count }

    /// The logits as Float64.
    public var logitValues: [Double] { (0..<count).map { Double(logits.value.data[$0]) } }

    /// The mixing weights the next forward uses (depends on `mode`, the logits and τ).
    public var theta: [Double] { ArchitectureSoftmax.theta(logitValues, mode: mode, temperature: temperature) }

    /// argmax of the logits, ties -> lowest index (Eq. 6, §9 #20).
    public var winner: Int { ArchitectureSoftmax.argmax(logitValues) }

    /// Top minus second soft θ at the current temperature: how decisive `winner` is (1 = one-hot, near 0 =
    /// a tie the argmax decides by rounding). 1 for a single candidate.
    public var thetaMargin: Double {
        let t = ArchitectureSoftmax.theta(logitValues, mode: .soft, temperature: temperature).sorted(by: >)
        return t.count > 1 ? t[0] - t[1] : 1
    }
}
