// ImageResize: torchvision's ImageNet preprocessing on 8-bit images, Resize(S) then CenterCrop(C).
//
// Resize: the shorter side becomes S, the longer int(S * long / short) (torchvision's sizes). The filter
// is bilinear (triangle) widened by the scale factor when shrinking, i.e. antialiased, with PIL's
// coefficients (what torchvision's Resize does on PIL images): output pixel i of an axis n -> m has
// centre (i + 0.5) n/m in input coordinates, taps j in [centre - r, centre + r) with r = max(n/m, 1),
// weights tri((j + 0.5 - centre) / max(n/m, 1)) normalised to sum 1. Rows are resized first, then
// columns (PIL's order), in float, rounded once to the nearest byte at the end; PIL rounds to 8 bits
// between the passes, so results can differ from PIL's by one level.
// Center crop: offsets round((H - C) / 2), round((W - C) / 2), half to even as Python's round.

import Foundation

extension PNGImage {
    /// The same image with 3 channels (a gray image's channel repeated; an RGB image unchanged).
    public func rgb() -> PNGImage {
        if channels == 3 { return self }
        var px = [UInt8](repeating: 0, count: width * height * 3)
        for p in 0..<(width * height) { px[3 * p] = pixels[p]; px[3 * p + 1] = pixels[p]; px[3 * p + 2] = pixels[p] }
        return PNGImage(width: width, height: height, channels: 3, pixels: px)
    }

    /// Output (width, height) when the shorter side becomes `side`.
    public static func shorterSideSize(width: Int, height: Int, side: Int) -> (width: Int, height: Int) {
        if width <= height { return (side, Int(Double(side) * Double(height) / Double(width))) }
        return (Int(Double(side) * Double(width) / Double(height)), side)
    }

    /// Taps and normalised weights of every output pixel of an axis resized from `n` to `m` pixels.
    static func bilinearCoefficients(from n: Int, to m: Int) -> [(first: Int, weights: [Float])] {
        let scale = Double(n) / Double(m)
        let filterScale = max(scale, 1)
        return (0..<m).map { i in
            let centre = (Double(i) + 0.5) * scale
            let lo = max(0, Int(centre - filterScale + 0.5))
            let hi = min(n, Int(centre + filterScale + 0.5))
            var w = (lo..<hi).map { j in max(0, 1 - abs((Double(j) + 0.5 - centre) / filterScale)) }
            let sum = w.reduce(0, +)
            if sum > 0 { w = w.map { $0 / sum } }
            return (lo, w.map { Float($0) })
        }
    }

    /// Resize to `newWidth` x `newHeight` with the antialiased bilinear filter described above.
    public func resized(width newWidth: Int, height newHeight: Int) -> PNGImage {
        precondition(newWidth > 0 && newHeight > 0, "resize to \(newWidth)x\(newHeight)")
        if newWidth == width && newHeight == height { return self }
        let c = channels
        // Horizontal pass: height x newWidth x c floats.
        let cx = Self.bilinearCoefficients(from: width, to: newWidth)
        var mid = [Float](repeating: 0, count: height * newWidth * c)
        pixels.withUnsafeBufferPointer { src in
            mid.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let row = src.baseAddress! + y * width * c
                    for (x, k) in cx.enumerated() {
                        k.weights.withUnsafeBufferPointer { w in
                            for ch in 0..<c {
                                var s: Float = 0
                                for t in 0..<w.count { s += w[t] * Float(row[(k.first + t) * c + ch]) }
                                dst[(y * newWidth + x) * c + ch] = s
                            }
                        }
                    }
                }
            }
        }
        // Vertical pass, rounded and saturated to bytes.
        let cy = Self.bilinearCoefficients(from: height, to: newHeight)
        let rowLength = newWidth * c
        var out = [UInt8](repeating: 0, count: newHeight * rowLength)
        var acc = [Float](repeating: 0, count: rowLength)
        mid.withUnsafeBufferPointer { m in
            for (y, k) in cy.enumerated() {
                for i in 0..<rowLength { acc[i] = 0 }
                for (t, w) in k.weights.enumerated() {
                    let r = m.baseAddress! + (k.first + t) * rowLength
                    for i in 0..<rowLength { acc[i] += w * r[i] }
                }
                for i in 0..<rowLength { out[y * rowLength + i] = UInt8(min(max(acc[i].rounded(.toNearestOrAwayFromZero), 0), 255)) }
            }
        }
        return PNGImage(width: newWidth, height: newHeight, channels: c, pixels: out)
    }

    /// The centred `size` x `size` square. - Precondition: both sides at least `size`.
    public func centerCropped(_ size: Int) -> PNGImage {
        precondition(width >= size && height >= size, "center crop \(size) of a \(width)x\(height) image")
        let top = Int((Double(height - size) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(width - size) / 2).rounded(.toNearestOrEven))
        var px = [UInt8](repeating: 0, count: size * size * channels)
        let rowBytes = size * channels
        for y in 0..<size {
            let src = ((top + y) * width + left) * channels
            px[(y * rowBytes)..<((y + 1) * rowBytes)] = pixels[src..<(src + rowBytes)]
        }
        return PNGImage(width: size, height: size, channels: channels, pixels: px)
    }

    /// RGB, shorter side resized to `resize`, centre `crop` x `crop` square: what a shard stores.
    /// - Precondition: resize >= crop.
    public func preprocessed(resize: Int, crop: Int) -> PNGImage {
        precondition(resize >= crop, "resize \(resize) smaller than crop \(crop)")
        let (w, h) = Self.shorterSideSize(width: width, height: height, side: resize)
        return rgb().resized(width: w, height: h).centerCropped(crop)
    }
}
