// The sensitivity score (SensitivitySelection) against a finite-difference oracle: on a tiny conv → ReLU
// → linear network, ∂L/∂y of every input activation and weight element is measured by central
// differences of the summed cross-entropy (computed in Float64 from the logits), and the score
// Σ (∂L/∂y · (Q_c(y) − y))² is summed in Float64 from it; the probes' single backward must agree.

import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch

/// Adds `delta` to element `index` of the tensor it hooks (the finite-difference perturbation).
private final class Perturbation: TensorHook {
    var index = -1, delta: Float = 0
    private let out = Tensor(shape: [0])
    func forward(_ x: Tensor) -> Tensor {
        out.resize(to: x.shape)
        out.data.update(from: x.data, count: x.count)
        if index >= 0 { out.data[index] += delta }
        return out
    }
    func backward(_ g: Tensor) -> Tensor { g }
}

/// Records the tensor it hooks (the layer input y of every image).
private final class Recorder: TensorHook {
    var last: [Float] = []
    func forward(_ x: Tensor) -> Tensor { last = x.array; return x }
    func backward(_ g: Tensor) -> Tensor { g }
}

private struct TinyNet {
    let conv: Conv2d, fc: Linear, net: Sequential
    let images: Tensor, labels: [Int]

    init() {
        var rng = RNG(seed: 5)
        conv = Conv2d(1, 2, kernelSize: 3, padding: 1, bias: true, rng: &rng)
        fc = Linear(32, 3, rng: &rng)
        net = Sequential([conv, ReLU(), Flatten(), fc])
        images = Tensor.normal([3, 1, 4, 4], rng: &rng)
        labels = [0, 2, 1]
    }

    var layers: [any HookableLayer] { [conv, fc] }

    /// Σ_n ℓ_n (cross-entropy per image), in Float64 from the logits.
    func summedLoss() -> Double {
        let z = net.forward(images).array.map(Double.init), k = 3
        var total = 0.0
        for n in 0..<labels.count {
            let row = z[(n * k)..<(n * k + k)], m = row.max()!
            total += log(row.reduce(0) { $0 + exp($1 - m) }) + m - row[n * k + labels[n]]
        }
        return total
    }

    /// The probes' pass: one forward and a backward of the summed loss (mean gradient × batch size).
    func backwardPass() {
        let ce = SoftmaxCrossEntropy()
        _ = ce.forward(logits: net.forward(images), labels: labels)
        let g = ce.backward()
        g.scale(by: Float(labels.count))
        _ = net.backward(g)
    }
}

/// Candidates with thresholds as fractions of each tensor's max |y|; candidate 3 repeats candidate 1's
/// thresholds exactly (a tie: it must never be selected over 1).
private func candidates(_ t: TinyNet) -> CandidateTable {
    let rec = Recorder()
    t.fc.inputHook = rec
    _ = t.net.forward(t.images)
    t.fc.inputHook = nil
    let maxInput: [Float] = [t.images.maxAbs(), rec.last.map(abs).max() ?? 1]
    let fractions: [Float] = [1.0, 0.6, 0.35, 0.6]
    return CandidateTable(names: ["A", "B", "C", "B again"], layers: fractions.map { f in
        t.layers.enumerated().map { l, layer in
            LayerQuantization(name: "l\(l)", weightBits: 3, activationBits: 3, activationUnsigned: l == 1,
                              thresholds: LayerThresholds(weight: f * layer.weight.value.maxAbs(), activation: f * maxInput[l]))
        }
    })
}

@Suite("Sensitivity-score selection (issue 18 (b))")
struct SensitivitySelectionTests {
    @Test("the score of every layer, side and candidate equals Σ (∂L/∂y · (Q(y) − y))² with ∂L/∂y by finite differences")
    func finiteDifferenceOracle() throws {
        let t = TinyNet(), table = candidates(t)
        let points = QuantizedModel.points(of: t.net)
        #expect(points.count == 2)
        let (scores, _) = SensitivitySelection.scores(model: t.net, points: points, table: table) { t.backwardPass() }
        #expect(t.layers.allSatisfy { $0.inputHook == nil && $0.weightHook == nil })   // probes removed
        #expect(t.net.namedParameters().allSatisfy { $0.parameter.requiresGrad })      // flags restored

        let h: Float = 1e-3
        for (l, layer) in t.layers.enumerated() {
            // y: the layer's input for the whole batch (recorded) and its weight.
            let rec = Recorder()
            layer.inputHook = rec
            _ = t.net.forward(t.images)
            layer.inputHook = nil
            let y = rec.last, w = layer.weight.value.array
            func gradient(_ count: Int, side: QuantizationSide) -> [Double] {
                let p = Perturbation()
                if side == .activation { layer.inputHook = p } else { layer.weightHook = p }
                defer { layer.inputHook = nil; layer.weightHook = nil }
                return (0..<count).map { i in
                    p.index = i
                    p.delta = h; let up = t.summedLoss()
                    p.delta = -h; let down = t.summedLoss()
                    return (up - down) / Double(2 * h)
                }
            }
            let ga = gradient(y.count, side: .activation), gw = gradient(w.count, side: .weight)
            for c in table.names.indices {
                let q = table.layers[c][l]
                let ya = q.activationQuantizer.fakeQuantized(Tensor(shape: [y.count], values: y), threshold: q.thresholds.activation).array
                let yw = q.weightQuantizer.fakeQuantized(Tensor(shape: [w.count], values: w), threshold: q.thresholds.weight).array
                let oa = (0..<y.count).reduce(0.0) { s, i in let d = ga[i] * (Double(ya[i]) - Double(y[i])); return s + d * d }
                let ow = (0..<w.count).reduce(0.0) { s, i in let d = gw[i] * (Double(yw[i]) - Double(w[i])); return s + d * d }
                #expect(oa > 0 && ow > 0)
                #expect(abs(scores.activation[l][c] - oa) <= 2e-2 * oa, "layer \(l) candidate \(c) activation: \(scores.activation[l][c]) vs \(oa)")
                #expect(abs(scores.weight[l][c] - ow) <= 2e-2 * ow, "layer \(l) candidate \(c) weight: \(scores.weight[l][c]) vs \(ow)")
            }
        }
        // The duplicate candidate ties exactly with the one it copies, and the selection is the argmin
        // with the tie broken towards the lower index: never "B again".
        for l in 0..<2 {
            #expect(scores.activation[l][3] == scores.activation[l][1] && scores.weight[l][3] == scores.weight[l][1])
        }
        let choice = scores.selection
        #expect(!choice.activation.contains(3) && !choice.weight.contains(3))
        for l in 0..<2 {
            #expect(scores.activation[l][choice.activation[l]] == scores.activation[l].min())
            #expect(scores.weight[l][choice.weight[l]] == scores.weight[l].min())
        }
    }

    @Test("selection: per layer and side the lowest score, ties to the lowest index, NaN never wins")
    func argminTieBreak() {
        let s = SensitivityScores(activation: [[2, 1, 1], [0, 0, 0], [.nan, 3, 3], [5, 4, 3]],
                                  weight: [[1, 1, 2], [3, 2, 1], [.nan, .nan, 7], [0, -0.0, 1]])
        #expect(s.selection == StrategyChoice(activation: [1, 0, 1, 2], weight: [0, 2, 2, 0]))
        #expect(s.reshaped(s.flattened.map { $0.isNaN ? 9 : $0 }).activation[2] == [9, 3, 3])
    }
}
