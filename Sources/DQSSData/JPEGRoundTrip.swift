// JPEG round trip of normalised images: what a network sees when the same pictures reach it through a
// JPEG encoder and decoder (a camera, a web upload, the CIFAR-10 test-jpeg split).
//
// Why: a PTQ search scores its choices on held-out training images, which are lossless. At 4-bit
// activations the choice of clipping thresholds that is best for lossless images is not the best for
// JPEG-decoded ones (docs/results.md, "Validation images through JPEG"), so a user whose deployment
// images are JPEG can have the held-out images look like them.
//
// The bytes are recovered exactly from the normalised values (the normalisation table is strictly
// increasing in the byte, so the nearest table entry is the byte), encoded as a baseline JPEG at
// `quality` with libjpeg's defaults (4:2:0 chroma subsampling, as Pillow's and cjpeg's), decoded and
// normalised again with the same table.

import DQSSTensor

extension Normalization {
    /// The byte whose normalised value in channel `c` is nearest to `x` (exact for a value of the table).
    /// Values outside the table's range clamp to 0 or 255 (NaN to 0), in Float before any Int conversion.
    public func byte(_ x: Float, channel c: Int) -> UInt8 {
        var guess = ((x * std[c] + mean[c]) * 255).rounded()
        if !(guess >= 0) { guess = 0 }
        if guess > 255 { guess = 255 }
        var best = Int(guess)
        for b in max(best - 1, 0)...min(best + 1, 255) where abs(table[256 * c + b] - x) < abs(table[256 * c + best] - x) {
            best = b
        }
        return UInt8(best)
    }

    /// `images` [N, C, H, W] (normalised with this normalisation; C = 1 or 3) after a JPEG encode at
    /// `quality` (1...100) and a decode, as a new tensor of the same shape.
    public func jpegRoundTrip(_ images: Tensor, quality: Int) throws -> Tensor {
        guard images.shape.count == 4 else {
            throw DQSSDataError("JPEG round trip: images must be [N, C, H, W], got \(images.shape)")
        }
        let (n, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        guard c == mean.count, c == 1 || c == 3 else {
            throw DQSSDataError("JPEG round trip: \(c)-channel images with a \(mean.count)-channel normalisation (JPEG takes 1 or 3)")
        }
        guard (1...100).contains(quality) else {
            throw DQSSDataError("JPEG round trip: quality \(quality) outside 1...100")
        }
        let out = Tensor(shape: images.shape)
        let plane = h * w, per = c * plane
        var interleaved = [UInt8](repeating: 0, count: per)
        for i in 0..<n {
            let src = images.data + i * per
            if let k = (0..<per).first(where: { !src[$0].isFinite }) {
                throw DQSSDataError("JPEG round trip: image \(i) holds \(src[k]) at value \(k) (NaN/Inf cannot be an image)")
            }
            for ch in 0..<c {
                for p in 0..<plane { interleaved[p * c + ch] = byte(src[ch * plane + p], channel: ch) }
            }
            let jpeg = try PNGImage(width: w, height: h, channels: c, pixels: interleaved).jpegData(quality: quality)
            let decoded = try PNGImage(jpegData: jpeg, name: "image \(i) after JPEG encoding")
            guard decoded.width == w, decoded.height == h, decoded.channels == c else {
                throw DQSSDataError("JPEG round trip: image \(i) decoded as \(decoded.width)x\(decoded.height)x\(decoded.channels), not \(w)x\(h)x\(c)")
            }
            let dst = out.data + i * per
            for ch in 0..<c {
                for p in 0..<plane { dst[ch * plane + p] = table[256 * ch + Int(decoded.pixels[p * c + ch])] }
            }
        }
        return out
    }
}
