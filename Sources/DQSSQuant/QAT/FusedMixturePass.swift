// FusedMixturePass: the N candidates of one side of the DQSS operator (ALGORITHMS.md §5, Eq. 11) in ONE
// pass over the tensor, as §5.3's efficient convolution asks of the operator's elementwise part:
//
//     forward   Â = Σ_k θ_k Q_k(x)                        (x read once, Â written once)
//     backward  dx = Σ_k θ_k J_k(x) ⊙ G,  ⟨G, Q_k(x)⟩ and each candidate's parameter sums
//
// Run branch by branch over the whole tensor, a step reads x (and G, dx) N times from memory; here the
// tensor is cut into tiles small enough to stay in L1 and every active branch runs over a tile before the
// next one, so memory sees each array once and no per-branch temporary exists. Within a tile each branch
// runs its own range kernel (LearnableQuantizer.forward(_:into:range:...)), in branch order, first branch
// assigning and the others adding: per element the same operations in the same order as branch-by-branch
// passes, and each branch's sums are taken over the same tiles of the same fixed chunks (`reductionChunks`,
// `forEachTile`) as a lone quantizer's pass — so the results equal the separate passes bit for bit (the one
// exception: DoReFa's weight-normaliser term lands on its argmax element after the other branches added
// theirs, a different float order for that one element).

import DQSSTensor
import DQSSLayers

public enum FusedMixturePass {
    /// Elements per tile: x, y (forward) or x, G, dx (backward) of one tile fit in a 32 KB L1 cache.
    public static let tile = 1024

    /// y = Σ_k θ_k Q_k(x) over the branches with θ_k ≠ 0 (y = 0 when there are none).
    public static func forward(_ branches: [any LearnableQuantizer], theta: [Double],
                               x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        precondition(branches.count == theta.count, "FusedMixturePass: \(branches.count) branches, \(theta.count) weights")
        let active = theta.indices.filter { theta[$0] != 0 }
        guard !active.isEmpty else { y.update(repeating: 0, count: count); return }
        for k in active { branches[k].beginPass(x, count: count) }
        let scales = active.map { Float(theta[$0]) }
        parallelRanges(count, minChunk: 1 << 15) { r in
            forEachTile(r) { tile in
                for (n, k) in active.enumerated() {
                    branches[k].forward(x, into: y, range: tile, scale: scales[n], accumulate: n > 0)
                }
            }
        }
    }

    /// The backward for upstream gradient G: writes dx = Σ_k θ_k J_k(x) ⊙ G into `gradInput` when given (0 when
    /// no branch is active), adds each active candidate's parameter gradients (upstream θ_k G), and returns
    /// ⟨G, Q_k(x)⟩ per branch (0 for inactive ones). `samples`: leading dimension of x (1 for weights).
    public static func backward(_ branches: [any LearnableQuantizer], theta: [Double],
                                x: UnsafePointer<Float>, gradOutput g: UnsafePointer<Float>, count: Int, samples: Int,
                                gradInput dx: UnsafeMutablePointer<Float>?) -> [Double] {
        precondition(branches.count == theta.count, "FusedMixturePass: \(branches.count) branches, \(theta.count) weights")
        var dots = [Double](repeating: 0, count: branches.count)
        let active = theta.indices.filter { theta[$0] != 0 }
        guard !active.isEmpty else { dx?.update(repeating: 0, count: count); return dots }
        for k in active { branches[k].beginPass(x, count: count) }
        let scales = active.map { Float(theta[$0]) }
        let chunks = reductionChunks(count)
        guard chunks > 0 else {
            for (n, k) in active.enumerated() {
                dots[k] = branches[k].finishBackward(SIMD4(), x: x, count: count, samples: samples, scale: scales[n], gradInput: dx)
            }
            return dots
        }
        let a = active.count
        // partial[c·a + n]: branch n's sums over chunk c, combined afterwards in chunk order (as chunkedSum).
        withUnsafeTemporaryAllocation(of: SIMD4<Double>.self, capacity: chunks * a) { buffer in
            let partial = buffer.baseAddress!
            partial.initialize(repeating: SIMD4(), count: chunks * a)
            runParallel(tasks: chunks) { _, c in
                let chunk = count * c / chunks ..< count * (c + 1) / chunks
                let sums = partial + c * a
                forEachTile(chunk) { tile in
                    for (n, k) in active.enumerated() {
                        branches[k].backward(x, gradOutput: g, range: tile, scale: scales[n], gradInput: dx,
                                             accumulate: n > 0, sums: &sums[n])
                    }
                }
            }
            for (n, k) in active.enumerated() {
                var total = SIMD4<Double>()
                for c in 0..<chunks { total += partial[c * a + n] }
                dots[k] = branches[k].finishBackward(total, x: x, count: count, samples: samples, scale: scales[n], gradInput: dx)
            }
        }
        return dots
    }
}
