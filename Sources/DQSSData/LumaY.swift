// LumaY: the Y channel of YCbCr (ITU-R BT.601, "studio swing") as MATLAB's rgb2ycbcr computes it from
// 8-bit RGB, the channel SR papers report PSNR/SSIM on:
//   Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255        (R, G, B in 0...255; Y in 16...235)
// `rounded` rounds Y to integers first (MATLAB's rgb2ycbcr on a uint8 image returns uint8); the
// default keeps it in floating point (BasicSR's `bgr2ycbcr(y_only=True)` on float images).

public enum LumaY {
    /// Y of every pixel of an RGB image, row-major (height × width), in Double.
    public static func plane(_ image: PNGImage, rounded: Bool = false) -> [Double] {
        precondition(image.channels == 3, "LumaY needs an RGB image (got \(image.channels) channels)")
        var y = [Double](repeating: 0, count: image.width * image.height)
        image.pixels.withUnsafeBufferPointer { p in
            for i in 0..<y.count {
                let v = 16 + (65.481 * Double(p[3 * i]) + 128.553 * Double(p[3 * i + 1]) + 24.966 * Double(p[3 * i + 2])) / 255
                y[i] = rounded ? v.rounded(.toNearestOrAwayFromZero) : v
            }
        }
        return y
    }

    /// The plane without `border` pixels on every side (the SR "shave"): (height − 2b) × (width − 2b).
    public static func shave(_ plane: [Double], width: Int, height: Int, border: Int) -> [Double] {
        precondition(plane.count == width * height, "plane of \(plane.count) values is not \(width)x\(height)")
        precondition(width > 2 * border && height > 2 * border, "cannot shave \(border) pixels from \(width)x\(height)")
        var out: [Double] = []
        out.reserveCapacity((width - 2 * border) * (height - 2 * border))
        for r in border..<(height - border) {
            out.append(contentsOf: plane[(r * width + border)..<(r * width + width - border)])
        }
        return out
    }
}
