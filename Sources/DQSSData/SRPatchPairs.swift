// SRPatchPairs: HR/LR training pairs for calibrating and searching an SR network, made the BasicSR way
// (LR = MATLAB-bicubic downscale of the HR patch, both in [0, 1]).
//
// Source of HR images: no SR training set (DIV2K) is available to this project (SOURCES.md), and the
// test sets (Set5, Set14) must not be used for calibration. The only other lossless natural images are
// the CIFAR-10 training records, so HR patches are crops of those (32×32 at most, hence LR patches of
// 8×8 at x4; the default patch is the whole image). This is a documented deviation from the paper's
// "256 LR/HR pairs from DIV2K train": the images are small and of a different source, so activation
// ranges and the L1 search signal come from another distribution than the test images.

import DQSSTensor

public struct SRPatchPairs: Sendable {
    /// [M, 3, P/scale, P/scale] in [0, 1].
    public let lowResolution: Tensor
    /// [M, 3, P, P] in [0, 1].
    public let highResolution: Tensor
    public let scale: Int

    public var count: Int { lowResolution.shape[0] }

    public init(lowResolution: Tensor, highResolution: Tensor, scale: Int) {
        self.lowResolution = lowResolution
        self.highResolution = highResolution
        self.scale = scale
    }

    /// One pair per index: a `patch`×`patch` HR crop at a seeded random position of CIFAR-10 record
    /// `indices[k]` (the whole image when patch = 32) and its bicubic x`scale` downscale.
    public static func cifar(_ dataset: CIFAR10Dataset, indices: [Int], scale: Int, patch: Int = 32,
                             seed: UInt64) throws -> SRPatchPairs {
        let side = CIFAR10Dataset.width
        guard patch % scale == 0, patch >= scale, patch <= side else {
            throw DQSSDataError("SR patch size \(patch) must be a multiple of the scale \(scale) and at most \(side)")
        }
        if let bad = indices.first(where: { $0 < 0 || $0 >= dataset.count }) {
            throw DQSSDataError("\(dataset.name): record \(bad) out of range 0..<\(dataset.count)")
        }
        return try build(dataset, indices: indices, scale: scale, patch: patch, seed: seed)
    }

    private static func build(_ dataset: CIFAR10Dataset, indices: [Int], scale: Int, patch: Int,
                              seed: UInt64) throws -> SRPatchPairs {
        let side = CIFAR10Dataset.width, plane = side * side, lp = patch / scale
        let hr = Tensor(shape: [indices.count, 3, patch, patch])
        let lr = Tensor(shape: [indices.count, 3, lp, lp])
        var rng = RNG(seed: seed)
        for (k, record) in indices.enumerated() {
            let y0 = patch == side ? 0 : rng.int(below: side - patch + 1)
            let x0 = patch == side ? 0 : rng.int(below: side - patch + 1)
            var px = [UInt8](repeating: 0, count: patch * patch * 3)
            let base = record * CIFAR10Dataset.imageBytes
            for c in 0..<3 {
                for y in 0..<patch {
                    for x in 0..<patch {
                        let v = dataset.pixels[base + c * plane + (y0 + y) * side + x0 + x]
                        px[(y * patch + x) * 3 + c] = v
                        hr.data[((k * 3 + c) * patch + y) * patch + x] = Float(v) / 255
                    }
                }
            }
            let low = BicubicResize.downscale(PNGImage(width: patch, height: patch, channels: 3, pixels: px), factor: scale)
            for c in 0..<3 {
                for p in 0..<(lp * lp) { lr.data[(k * 3 + c) * lp * lp + p] = Float(low.pixels[p * 3 + c]) / 255 }
            }
        }
        return SRPatchPairs(lowResolution: lr, highResolution: hr, scale: scale)
    }

    /// Pairs `range` as a new value (copies).
    public func slice(_ range: Range<Int>) -> SRPatchPairs {
        func cut(_ t: Tensor) -> Tensor {
            let per = t.count / max(t.shape[0], 1)
            var s = t.shape
            s[0] = range.count
            let out = Tensor(shape: s)
            out.data.update(from: t.data + range.lowerBound * per, count: range.count * per)
            return out
        }
        return SRPatchPairs(lowResolution: cut(lowResolution), highResolution: cut(highResolution), scale: scale)
    }
}
