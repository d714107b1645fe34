// Shared fixtures: the §11.7 layer (input 2×3×5×5, weight 4×3×3×3, padding 1), candidate branches with
// distinct thresholds, and a Float64 direct convolution for reference values.

import DQSSTensor
import DQSSLayers
import DQSSQuant
import DQSSSearch

/// A mixed conv layer under test: the Conv2d with its two hooks.
struct MixedConvFixture {
    let conv: Conv2d
    let input: Tensor
    let activation: MixedQuantHook
    let weight: MixedQuantHook
    let activationBranches: [QuantizerBranch]
    let weightBranches: [QuantizerBranch]

    /// - bits: candidate bit width (4 makes the candidates differ clearly).
    init(seed: UInt64 = 11, bits: Int = 4, activationScales: [Float] = [0.5, 0.8, 1.1, 1.6],
         weightScales: [Float] = [0.4, 0.7, 1.0, 1.3], unsignedInput: Bool = false) {
        var rng = RNG(seed: seed)
        conv = Conv2d(3, 4, kernelSize: 3, padding: 1, bias: true, rng: &rng)
        input = Tensor.normal([2, 3, 5, 5], rng: &rng)
        if unsignedInput { for i in 0..<input.count { input.data[i] = abs(input.data[i]) } }
        let aq = UniformQuantizer(bits: bits, unsigned: unsignedInput), wq = UniformQuantizer(bits: bits)
        let am = input.maxAbs(), wm = conv.weight.value.maxAbs()
        let names = ["Max_Abs", "KL", "EQ", "ADMM", "E", "F", "G", "H"]
        activationBranches = activationScales.enumerated().map {
            QuantizerBranch(name: names[$0.offset], quantizer: aq, threshold: $0.element * am)
        }
        weightBranches = weightScales.enumerated().map {
            QuantizerBranch(name: names[$0.offset], quantizer: wq, threshold: $0.element * wm)
        }
        activation = MixedQuantHook(side: .activation, branches: activationBranches)
        weight = MixedQuantHook(side: .weight, branches: weightBranches)
        conv.inputHook = activation
        conv.weightHook = weight
    }

    func setLogits(alpha: [Float], beta: [Float]) {
        activation.logits.value.set(alpha)
        weight.logits.value.set(beta)
    }

    var geometry: ConvGeometry { conv.geometry(for: input.shape) }

    /// P_ij = ⟨G_y, W_j * A_i⟩ in Float64 for every (activation i, weight j) candidate pair, from the (exact)
    /// quantized Float values: the loss L = ⟨G_y, y⟩ of any mixture is Σ_ij θ^α_i θ^β_j P_ij (bias aside).
    func branchProducts(_ gy: Tensor) -> [[Double]] {
        let aq = activationBranches.map { doubles($0.quantizer.fakeQuantized(input, threshold: $0.threshold)) }
        let wq = weightBranches.map { doubles($0.quantizer.fakeQuantized(conv.weight.value, threshold: $0.threshold)) }
        let gyd = doubles(gy), g = geometry
        return aq.map { a in wq.map { w in dot(gyd, convolutionFloat64(g, a, w)) } }
    }
}

/// y = conv(x, w) in Float64 (direct loops, zero padding), no bias.
func convolutionFloat64(_ g: ConvGeometry, _ x: [Double], _ w: [Double]) -> [Double] {
    var y = [Double](repeating: 0, count: g.outputCount)
    let k = g.kernelH, cin = g.inChannels / g.groups, opg = g.outChannels / g.groups
    for n in 0..<g.batch {
        for o in 0..<g.outChannels {
            let grp = o / opg
            for i in 0..<g.outH {
                for j in 0..<g.outW {
                    var s = 0.0
                    for c in 0..<cin {
                        let ci = grp * cin + c
                        for u in 0..<k {
                            for v in 0..<k {
                                let h = i * g.stride - g.padding + u, ww = j * g.stride - g.padding + v
                                if h < 0 || h >= g.inH || ww < 0 || ww >= g.inW { continue }
                                s += x[((n * g.inChannels + ci) * g.inH + h) * g.inW + ww]
                                    * w[((o * cin + c) * k + u) * k + v]
                            }
                        }
                    }
                    y[((n * g.outChannels + o) * g.outH + i) * g.outW + j] = s
                }
            }
        }
    }
    return y
}

func doubles(_ t: Tensor) -> [Double] { t.array.map(Double.init) }

func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

/// max |a − b| / max(max |a|, floor).
func relativeError(_ a: [Double], _ b: [Double], floor: Double = 1e-12) -> Double {
    let scale = max(a.map(abs).max() ?? 0, floor)
    return zip(a, b).map { abs($0 - $1) }.max()! / scale
}
