// SSIM (Wang et al. 2004) the way SR papers compute it (MATLAB ssim_index / BasicSR calculate_ssim):
// 11×11 Gaussian window with σ = 1.5 (normalised to sum 1), "valid" filtering (no padding),
// C1 = (0.01·L)², C2 = (0.03·L)², L = 255;
//   SSIM map = ((2 μa μb + C1)(2 σab + C2)) / ((μa² + μb² + C1)(σa² + σb² + C2)),
//   σa² = G*(a²) − μa², σab = G*(ab) − μa μb;  result = mean of the map.
// The window is separable (outer product of the 1-D Gaussian), so filtering runs rows then columns.

import Foundation

public enum SSIM {
    /// The normalised 1-D Gaussian of `size` taps (OpenCV getGaussianKernel with σ > 0).
    public static func gaussian(size: Int = 11, sigma: Double = 1.5) -> [Double] {
        let c = Double(size - 1) / 2
        let g = (0..<size).map { exp(-(Double($0) - c) * (Double($0) - c) / (2 * sigma * sigma)) }
        let s = g.reduce(0, +)
        return g.map { $0 / s }
    }

    /// Valid-region separable filtering of a height × width plane: (height − k + 1) × (width − k + 1).
    static func filterValid(_ x: [Double], width: Int, height: Int, kernel k: [Double]) -> [Double] {
        let n = k.count, ow = width - n + 1, oh = height - n + 1
        var rows = [Double](repeating: 0, count: height * ow)
        for r in 0..<height {
            for c in 0..<ow {
                var s = 0.0
                for t in 0..<n { s += k[t] * x[r * width + c + t] }
                rows[r * ow + c] = s
            }
        }
        var out = [Double](repeating: 0, count: oh * ow)
        for r in 0..<oh {
            for c in 0..<ow {
                var s = 0.0
                for t in 0..<n { s += k[t] * rows[(r + t) * ow + c] }
                out[r * ow + c] = s
            }
        }
        return out
    }

    /// Mean SSIM of two height × width planes (values in 0...L).
    public static func compute(_ a: [Double], _ b: [Double], width: Int, height: Int, dynamicRange l: Double = 255,
                               windowSize: Int = 11, sigma: Double = 1.5) -> Double {
        precondition(a.count == width * height && b.count == a.count, "SSIM planes must both be \(width)x\(height)")
        precondition(width >= windowSize && height >= windowSize, "SSIM needs at least \(windowSize)x\(windowSize) pixels")
        let c1 = (0.01 * l) * (0.01 * l), c2 = (0.03 * l) * (0.03 * l)
        let k = gaussian(size: windowSize, sigma: sigma)
        let muA = filterValid(a, width: width, height: height, kernel: k)
        let muB = filterValid(b, width: width, height: height, kernel: k)
        let aa = filterValid(zip(a, a).map(*), width: width, height: height, kernel: k)
        let bb = filterValid(zip(b, b).map(*), width: width, height: height, kernel: k)
        let ab = filterValid(zip(a, b).map(*), width: width, height: height, kernel: k)
        var s = 0.0
        for i in 0..<muA.count {
            let ma = muA[i], mb = muB[i]
            let va = aa[i] - ma * ma, vb = bb[i] - mb * mb, cov = ab[i] - ma * mb
            s += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
        }
        return s / Double(muA.count)
    }
}
