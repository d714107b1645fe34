// The second moment of a convolution's input patches, per image and group: G = X Xᵀ, X the
// (patchSize × outSpatial) im2col block of one image and one group. A convolution is linear in its weight,
// so for a weight change ΔW (outPerGroup × patchSize per group) the squared change of the output summed over
// positions and channels is tr(ΔW G ΔWᵀ), and its gradient is 2 ΔW G: a cost of outChannels·patchSize² per
// evaluation, whatever the image size and the number of images summed into G. AdaRound's reconstruction
// term (DQSSQuant/AdaRound.swift) is exactly that.

public enum ConvPatchGram {
    /// Floats of one image's Grams: groups · patchSize².
    public static func count(_ g: ConvGeometry) -> Int { g.groups * g.patchSize * g.patchSize }

    /// The Grams of one image (`x`: its C·H·W values; `g.batch` is ignored) into `out`: group j's
    /// patchSize × patchSize matrix, row-major, at j·patchSize². `scratch` holds the image's im2col.
    public static func image(_ g: ConvGeometry, _ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                             scratch: inout [Float]) {
        var one = g
        one.batch = 1
        let k = one.patchSize, s = one.outSpatial
        let rows = one.inChannels * one.kernelH * one.kernelW
        if scratch.count < rows * s { scratch = [Float](repeating: 0, count: rows * s) }
        scratch.withUnsafeMutableBufferPointer { col in
            Conv2dKernel.im2col(one, x, images: 1, col: col.baseAddress!, planes: 0..<one.inChannels)
            // Group j's rows of the im2col matrix are contiguous: input channels j·inPerGroup ..< (j+1)·inPerGroup.
            for j in 0..<one.groups {
                let block = UnsafePointer(col.baseAddress! + j * k * s)
                gemm(.none, .transposed, m: k, n: k, k: s, a: block, lda: s, b: block, ldb: s,
                     c: out + j * k * k, ldc: k)
            }
        }
    }
}
