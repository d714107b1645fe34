// The second moment of a convolution's input patches, per image and group: G = X Xᵀ, X the
// (patchSize × outSpatial) im2col block of one image and one group. A convolution is linear in its weight,
// so for a weight change ΔW (outPerGroup × patchSize per group) the squared change of the output summed over
// positions and channels is tr(ΔW G ΔWᵀ), and its gradient is 2 ΔW G: a cost of outChannels·patchSize² per
// evaluation, whatever the image size and the number of images summed into G. AdaRound's reconstruction
// term (DQSSQuant/AdaRound.swift) is exactly that.
//
// G is symmetric: it is stored packed, the upper triangle row by row (row r holds columns r ..< K), which
// halves the memory a sum over many images reads.

public enum ConvPatchGram {
    /// Floats of one group's packed Gram: K(K+1)/2.
    public static func packedCount(patchSize k: Int) -> Int { k * (k + 1) / 2 }
    /// Floats of one image's packed Grams: groups · K(K+1)/2.
    public static func count(_ g: ConvGeometry) -> Int { g.groups * packedCount(patchSize: g.patchSize) }
    /// Where entry (r, c), r ≤ c, of a packed K×K Gram is.
    @inlinable public static func packedIndex(_ r: Int, _ c: Int, patchSize k: Int) -> Int { r * k - r * (r - 1) / 2 + (c - r) }

    /// The packed Grams of one image (`x`: its C·H·W values; `g.batch` is ignored) into `out`, group j's at
    /// j·K(K+1)/2. `scratch` holds the image's im2col and one full Gram.
    public static func image(_ g: ConvGeometry, _ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                             scratch: inout [Float]) {
        var one = g
        one.batch = 1
        let k = one.patchSize, s = one.outSpatial, packed = packedCount(patchSize: k)
        let rows = one.inChannels * one.kernelH * one.kernelW
        if scratch.count < rows * s + k * k { scratch = [Float](repeating: 0, count: rows * s + k * k) }
        scratch.withUnsafeMutableBufferPointer { buffer in
            let col = buffer.baseAddress!, full = col + rows * s
            Conv2dKernel.im2col(one, x, images: 1, col: col, planes: 0..<one.inChannels)
            // Group j's rows of the im2col matrix are contiguous: input channels j·inPerGroup ..< (j+1)·inPerGroup.
            for j in 0..<one.groups {
                let block = UnsafePointer(col + j * k * s)
                gemm(.none, .transposed, m: k, n: k, k: s, a: block, lda: s, b: block, ldb: s, c: full, ldc: k)
                let dst = out + j * packed
                for r in 0..<k { (dst + packedIndex(r, r, patchSize: k)).update(from: full + r * k + r, count: k - r) }
            }
        }
    }

    /// full (upper triangle of K×K, row-major) ← packed (`add`: +=); the lower triangle is not touched.
    public static func unpackUpper(_ packed: UnsafePointer<Float>, into full: UnsafeMutablePointer<Float>, patchSize k: Int, add: Bool) {
        for r in 0..<k {
            let src = packed + packedIndex(r, r, patchSize: k), dst = full + r * k + r, n = k - r
            if add { for i in 0..<n { dst[i] += src[i] } } else { dst.update(from: src, count: n) }
        }
    }
}
