// ConvPatchGram against its definition: the sum over output positions of the outer product of each
// (zero-padded) input patch, built here with explicit loops, on geometries with groups, depthwise,
// strides, padding, 1×1 and non-square planes; and the identity it exists for, ‖ΔW * x‖² = tr(ΔW G ΔWᵀ),
// against the naive convolution.

import Testing
import DQSSTensor

@Suite("ConvPatchGram")
struct ConvPatchGramTests {
    static let geometries = [
        ConvGeometry(batch: 1, inChannels: 3, inH: 5, inW: 6, outChannels: 4, kernel: 3, padding: 1),
        ConvGeometry(batch: 1, inChannels: 4, inH: 7, inW: 5, outChannels: 6, kernel: 3, stride: 2, padding: 1, groups: 2),
        ConvGeometry(batch: 1, inChannels: 4, inH: 6, inW: 6, outChannels: 4, kernel: 3, padding: 1, groups: 4),
        ConvGeometry(batch: 1, inChannels: 5, inH: 4, inW: 3, outChannels: 2, kernel: 1, stride: 2),
        ConvGeometry(batch: 1, inChannels: 2, inH: 3, inW: 4, outChannels: 3, kernel: 3, padding: 0),
    ]

    /// Patch of image `x` for group j at output (i, jj): the values the convolution multiplies, 0 in the padding.
    static func patch(_ g: ConvGeometry, _ x: [Float], group j: Int, _ i: Int, _ jj: Int) -> [Float] {
        var p: [Float] = []
        for c in j * g.inPerGroup..<(j + 1) * g.inPerGroup {
            for a in 0..<g.kernelH {
                for b in 0..<g.kernelW {
                    let h = i * g.stride + a - g.padding, w = jj * g.stride + b - g.padding
                    p.append(h >= 0 && h < g.inH && w >= 0 && w < g.inW ? x[(c * g.inH + h) * g.inW + w] : 0)
                }
            }
        }
        return p
    }

    @Test("each group's packed Gram equals Σ over output positions of patch · patchᵀ (upper triangle), with padding, stride, groups, depthwise and 1×1; unpacking fills the upper triangle only")
    func gramIsSumOfPatchOuterProducts() {
        var rng = RNG(seed: 5)
        for g in Self.geometries {
            let x = (0..<g.inChannels * g.inH * g.inW).map { _ in rng.uniform(-1, 1) }
            var out = [Float](repeating: .nan, count: ConvPatchGram.count(g))
            var scratch: [Float] = []
            x.withUnsafeBufferPointer { xp in
                out.withUnsafeMutableBufferPointer { ConvPatchGram.image(g, xp.baseAddress!, into: $0.baseAddress!, scratch: &scratch) }
            }
            let k = g.patchSize, packed = ConvPatchGram.packedCount(patchSize: k)
            #expect(!out.contains { $0.isNaN }, "\(g): every packed entry written")
            for j in 0..<g.groups {
                var expected = [Double](repeating: 0, count: k * k)
                for i in 0..<g.outH {
                    for jj in 0..<g.outW {
                        let p = Self.patch(g, x, group: j, i, jj)
                        for r in 0..<k { for c in 0..<k { expected[r * k + c] += Double(p[r]) * Double(p[c]) } }
                    }
                }
                for r in 0..<k {
                    for c in r..<k {
                        let got = Double(out[j * packed + ConvPatchGram.packedIndex(r, c, patchSize: k)]), e = expected[r * k + c]
                        #expect(abs(got - e) <= 1e-4 * max(1, abs(e)), "\(g) group \(j) entry (\(r), \(c))")
                    }
                }
                // Unpacked: the upper triangle, the lower one untouched.
                var full = [Float](repeating: -7, count: k * k)
                out.withUnsafeBufferPointer { p in
                    full.withUnsafeMutableBufferPointer { ConvPatchGram.unpackUpper(p.baseAddress! + j * packed, into: $0.baseAddress!, patchSize: k, add: false) }
                }
                for r in 0..<k { for c in 0..<k {
                    if c >= r { #expect(abs(Double(full[r * k + c]) - expected[r * k + c]) <= 1e-4 * max(1, abs(expected[r * k + c]))) }
                    else { #expect(full[r * k + c] == -7) }
                } }
            }
        }
    }

    @Test("Σ over positions and channels of (ΔW * x)² equals Σ_groups tr(ΔW_j G_j ΔW_jᵀ) (naive convolution as oracle)")
    func quadraticFormIsOutputChange() {
        var rng = RNG(seed: 6)
        for g in Self.geometries {
            let x = Tensor.normal(g.inputShape, rng: &rng), dw = Tensor.normal(g.weightShape, rng: &rng)
            let y = Tensor(shape: g.outputShape)
            Conv2dNaive.forward(g, input: x.data, weight: dw.data, bias: nil, output: y.data)
            let direct = y.array.reduce(0.0) { $0 + Double($1) * Double($1) }
            var gram = [Float](repeating: 0, count: ConvPatchGram.count(g)), scratch: [Float] = []
            gram.withUnsafeMutableBufferPointer { ConvPatchGram.image(g, x.data, into: $0.baseAddress!, scratch: &scratch) }
            let k = g.patchSize, rows = g.outPerGroup, packed = ConvPatchGram.packedCount(patchSize: k)
            var viaGram = 0.0
            for j in 0..<g.groups {
                for o in 0..<rows {
                    let w = (0..<k).map { Double(dw[(j * rows + o) * k + $0]) }
                    for r in 0..<k { for c in 0..<k {
                        viaGram += w[r] * Double(gram[j * packed + ConvPatchGram.packedIndex(min(r, c), max(r, c), patchSize: k)]) * w[c]
                    } }
                }
            }
            #expect(abs(viaGram - direct) <= 1e-4 * max(1, direct), "\(g): \(viaGram) vs \(direct)")
        }
    }
}
