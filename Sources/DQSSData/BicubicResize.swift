// BicubicResize: MATLAB `imresize(I, 1/s, 'bicubic')` (antialiased) for downscaling by an integer
// factor s, the degradation behind every bicubic-x4 SR benchmark.
//
// Along one axis (MATLAB's `contributions`, 1-based positions): scale = 1/s, kernel width 4·s,
//   u_k   = k / scale + 0.5 (1 − 1/scale)                 centre of output pixel k in input coordinates
//   taps  = floor(u_k − 2s) + 0 ... + (ceil(4s) + 1)
//   w     = scale · cubic(scale · (u_k − tap)),  normalised to sum 1 per output pixel
//   cubic = (1.5|x|³ − 2.5|x|² + 1) on |x| ≤ 1, (−0.5|x|³ + 2.5|x|² − 4|x| + 2) on 1 < |x| ≤ 2, else 0 (a = −0.5)
//   taps outside 1...n are mirrored (symmetric padding: 0 → 1, −1 → 2, n+1 → n).
// MATLAB resizes rows (height) first, then columns. On uint8 images each pass's result is rounded
// (half away from zero) and saturated to 0...255 — MATLAB's imresizemex works in the input class — unless
// `roundBetweenPasses` is false (BasicSR's float re-implementation).

import Foundation

public enum BicubicResize {
    /// Keys' cubic with a = −0.5.
    public static func cubic(_ x: Double) -> Double {
        let a = abs(x), a2 = a * a, a3 = a2 * a
        if a <= 1 { return 1.5 * a3 - 2.5 * a2 + 1 }
        if a <= 2 { return -0.5 * a3 + 2.5 * a2 - 4 * a + 2 }
        return 0
    }

    /// Per output pixel (0-based): the 0-based input indices and normalised weights (zero weights dropped).
    public static func contributions(inputLength n: Int, factor s: Int) -> [[(index: Int, weight: Double)]] {
        precondition(s >= 1 && n >= 1, "bicubic downscale needs factor ≥ 1 and a non-empty axis")
        let scale = 1 / Double(s), width = 4 * Double(s)
        let outLength = Int((Double(n) * scale).rounded(.up))
        let taps = Int(width.rounded(.up)) + 2
        return (1...outLength).map { k in
            let u = Double(k) / scale + 0.5 * (1 - 1 / scale)
            let left = Int((u - width / 2).rounded(.down))
            var raw: [(Int, Double)] = (0..<taps).map { t in
                let j = left + t
                return (j, scale * cubic(scale * (u - Double(j))))
            }
            let total = raw.reduce(0) { $0 + $1.1 }
            raw = raw.map { ($0.0, $0.1 / total) }
            return raw.compactMap { (j, w) -> (index: Int, weight: Double)? in
                guard w != 0 else { return nil }
                // Mirror into 1...n (period 2n), then to 0-based.
                var m = (j - 1) % (2 * n)
                if m < 0 { m += 2 * n }
                return (m < n ? m : 2 * n - 1 - m, w)
            }
        }
    }

    /// Downscale a height × width plane by `factor` along both axes (rows first).
    public static func downscale(plane x: [Double], width: Int, height: Int, factor: Int,
                                 roundBetweenPasses: Bool) -> (plane: [Double], width: Int, height: Int) {
        let rowsC = contributions(inputLength: height, factor: factor)
        let colsC = contributions(inputLength: width, factor: factor)
        let oh = rowsC.count, ow = colsC.count
        var mid = [Double](repeating: 0, count: oh * width)
        for (r, taps) in rowsC.enumerated() {
            for c in 0..<width {
                var s = 0.0
                for t in taps { s += t.weight * x[t.index * width + c] }
                mid[r * width + c] = roundBetweenPasses ? quantize(s) : s
            }
        }
        var out = [Double](repeating: 0, count: oh * ow)
        for r in 0..<oh {
            for (c, taps) in colsC.enumerated() {
                var s = 0.0
                for t in taps { s += t.weight * mid[r * width + t.index] }
                out[r * ow + c] = s
            }
        }
        return (out, ow, oh)
    }

    /// uint8 conversion as MATLAB: round half away from zero, saturate to 0...255.
    static func quantize(_ v: Double) -> Double { min(max(v.rounded(.toNearestOrAwayFromZero), 0), 255) }

    /// An 8-bit image downscaled by `factor` (each channel separately), rounded to 8 bits.
    public static func downscale(_ image: PNGImage, factor: Int, roundBetweenPasses: Bool = true) -> PNGImage {
        let ch = image.channels, w = image.width, h = image.height
        var result: [UInt8] = []
        var ow = 0, oh = 0
        for c in 0..<ch {
            let plane = (0..<(w * h)).map { Double(image.pixels[$0 * ch + c]) }
            let r = downscale(plane: plane, width: w, height: h, factor: factor, roundBetweenPasses: roundBetweenPasses)
            if c == 0 { ow = r.width; oh = r.height; result = [UInt8](repeating: 0, count: ow * oh * ch) }
            for i in 0..<(ow * oh) { result[i * ch + c] = UInt8(quantize(r.plane[i])) }
        }
        return PNGImage(width: ow, height: oh, channels: ch, pixels: result)
    }
}
