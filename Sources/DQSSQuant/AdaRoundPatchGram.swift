// AdaRound's reconstruction term for a convolution through its input patches' Grams (ConvPatchGram):
//
//     L = (1/M) Σ_{images n ∈ batch, positions p} ‖(W̃ − W) x_{n,p}‖² = (1/M) Σ_groups tr(ΔW_j G_j ΔW_jᵀ),
//     G_j = Σ_{n ∈ batch} G_{n,j},    ∂L/∂W̃ = (2/M) ΔW_j G_j,    M = |batch| · outSpatial,
//
// the same objective, batch for batch, as the layer's forward minus its FP32 output (the bias cancels),
// evaluated without convolving: each image's Grams are computed once (packed: upper triangles), an
// iteration sums the batch's Grams and multiplies ΔW by them (a symmetric product). Chosen per layer when that is cheaper than a forward and a weight
// gradient over the batch (small spatial sizes and wide patches stay on the direct path) and the Grams
// of all calibration images fit in `memoryLimit` bytes.

import DQSSTensor
import DQSSLayers

struct AdaRoundPatchGram {
    let geometry: ConvGeometry
    /// image k's Grams at k·perImage.
    private var grams: [Float]
    private let perImage: Int
    private var batchGram: [Float]
    private var delta: [Float]

    /// Multiply-adds of one iteration on each path, for a batch of `batch` images.
    static func costs(_ g: ConvGeometry, batch: Int) -> (direct: Double, gram: Double) {
        let k = Double(g.patchSize), cout = Double(g.outChannels), b = Double(batch)
        let direct = 2 * cout * k * Double(g.outSpatial) * b   // forward + weight gradient
        let gram = cout * k * k + Double(g.groups) * k * k / 2 * b  // ΔW·G + summing the batch's packed Grams
        return (direct, gram)
    }

    /// Nil unless `layer` is a convolution for which this path is cheaper and fits in memory.
    init?(layer: any HookableLayer, bank: ImageBank, batch: Int, memoryLimit: Int, force: Bool = false) {
        // One geometry for every image: inputs of mixed spatial sizes stay on the direct path.
        guard let conv = layer as? Conv2d, bank.count > 0, let first = bank.batches.first, first.rank == 4,
              bank.batches.allSatisfy({ $0.shape.dropFirst() == first.shape.dropFirst() }) else { return nil }
        let g = conv.geometry(for: [1] + first.shape.dropFirst())
        let per = ConvPatchGram.count(g)
        let (direct, gram) = Self.costs(g, batch: min(batch, bank.count))
        guard force || (gram < direct && bank.count * per * MemoryLayout<Float>.size <= memoryLimit) else { return nil }
        geometry = g
        perImage = per
        grams = [Float](repeating: 0, count: bank.count * per)
        batchGram = [Float](repeating: 0, count: g.groups * g.patchSize * g.patchSize)
        delta = [Float](repeating: 0, count: conv.weight.value.count)
        var scratch: [Float] = []
        let values = first.count / first.shape[0]
        grams.withUnsafeMutableBufferPointer { out in
            for k in 0..<bank.count {
                let (b, r) = bank.index[k]
                ConvPatchGram.image(g, bank.batches[b].data + r * values, into: out.baseAddress! + k * per, scratch: &scratch)
            }
        }
    }

    /// The reconstruction loss of `relaxed` (W̃) against `original` (W) on the images `picked`, and
    /// ∂L/∂W̃ into `gradient` (resized to W's shape).
    mutating func lossAndGradient(picked: [Int], relaxed: Tensor, original: Tensor, into gradient: Tensor) -> Double {
        let k = geometry.patchSize, rowsPerGroup = geometry.outPerGroup, kk = k * k
        let m = Float(picked.count * geometry.outSpatial)
        gradient.resize(to: original.shape)
        for i in delta.indices { delta[i] = relaxed.data[i] - original.data[i] }
        // The batch's Gram per group, upper triangle only (the packed per-image Grams summed).
        let packed = ConvPatchGram.packedCount(patchSize: k)
        batchGram.withUnsafeMutableBufferPointer { sum in
            grams.withUnsafeBufferPointer { all in
                for (n, image) in picked.enumerated() {
                    for j in 0..<geometry.groups {
                        ConvPatchGram.unpackUpper(all.baseAddress! + image * perImage + j * packed,
                                                  into: sum.baseAddress! + j * kk, patchSize: k, add: n > 0)
                    }
                }
            }
        }
        // gradient = (2/M) ΔW_j G_j per group (G_j symmetric, upper triangle read); loss = (1/M) Σ ΔW ⊙ ΔW G.
        delta.withUnsafeBufferPointer { d in
            batchGram.withUnsafeBufferPointer { gb in
                for j in 0..<geometry.groups {
                    symmetricRightMultiply(m: rowsPerGroup, k: k, alpha: 2 / m, a: gb.baseAddress! + j * kk, lda: k,
                                           b: d.baseAddress! + j * rowsPerGroup * k, ldb: k,
                                           c: gradient.data + j * rowsPerGroup * k, ldc: k)
                }
            }
        }
        var loss = 0.0
        for i in delta.indices { loss += Double(delta[i] * gradient.data[i]) }
        return loss / 2
    }
}
