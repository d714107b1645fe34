// PNGImage: 8-bit RGB or grayscale images read and written through libpng's simplified API
// (png_image_begin_read_from_file / png_image_finish_read / png_image_write_to_file).
//
// Contract: reading gives RGB for colour PNGs and gray for grayscale ones, 8 bits per channel (16-bit
// files are converted by libpng; an alpha channel is composited onto black). Pixels are interleaved,
// row-major: pixels[(y * width + x) * channels + c]. Every libpng failure becomes a DQSSDataError naming
// the file with libpng's own message; the png_image control structure is always freed.

import _CPNG
import DQSSTensor
import Foundation

public struct PNGImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// 3 (RGB) or 1 (gray).
    public let channels: Int
    /// Interleaved 8-bit samples, `height * width * channels` of them.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(channels == 1 || channels == 3, "PNGImage holds gray (1) or RGB (3) images")
        precondition(width > 0 && height > 0 && pixels.count == width * height * channels,
                     "\(pixels.count) samples for \(width)x\(height)x\(channels)")
        self.width = width; self.height = height; self.channels = channels; self.pixels = pixels
    }

    /// The default limit on width x height when decoding: 100 megapixels (a 10000x10000 RGB image is
    /// 300 MB decoded). Real photographs stay far below it (ImageNet's largest are about 12 MP); a
    /// 200-byte file declaring 60000x60000 would otherwise cost 10.8 GB before it could be rejected.
    public static let defaultMaxPixels = 100_000_000

    /// Decode a PNG file; one declaring more than `maxPixels` pixels is refused before decoding.
    public init(contentsOf url: URL, maxPixels: Int = PNGImage.defaultMaxPixels) throws {
        var image = png_image()
        image.version = dqss_png_version()
        defer { png_image_free(&image) }
        guard png_image_begin_read_from_file(&image, url.path) != 0 else {
            throw Self.error(url, "cannot read PNG", &image)
        }
        let color = image.format & dqss_png_flag_color() != 0
        image.format = color ? dqss_png_format_rgb() : dqss_png_format_gray()
        let channels = color ? 3 : 1
        let (w, h) = (Int(image.width), Int(image.height))
        guard w > 0, h > 0, w <= 1 << 16, h <= 1 << 16 else {
            throw DQSSDataError("\(url.path): PNG size \(w)x\(h) outside 1...65536")
        }
        guard maxPixels <= 0 || w * h <= maxPixels else {
            throw DQSSDataError("\(url.path): PNG declares \(w)x\(h) = \(w * h) pixels, more than the limit of \(maxPixels)")
        }
        var pixels = [UInt8](repeating: 0, count: w * h * channels)
        let ok = pixels.withUnsafeMutableBytes { buffer in
            png_image_finish_read(&image, nil, buffer.baseAddress, Int32(w * channels), nil)
        }
        guard ok != 0 else { throw Self.error(url, "cannot decode PNG", &image) }
        self.init(width: w, height: h, channels: channels, pixels: pixels)
    }

    /// Encode to a PNG file (8-bit RGB or gray). Written to a temporary name and renamed into place.
    public func write(to url: URL) throws {
        var image = png_image()
        image.version = dqss_png_version()
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = channels == 3 ? dqss_png_format_rgb() : dqss_png_format_gray()
        defer { png_image_free(&image) }
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        let ok = pixels.withUnsafeBytes { buffer in
            png_image_write_to_file(&image, temporary.path, 0, buffer.baseAddress, Int32(width * channels), nil)
        }
        guard ok != 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw Self.error(url, "cannot write PNG", &image)
        }
        guard rename(temporary.path, url.path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw DQSSDataError("\(url.path): cannot move the written PNG into place (errno \(errno))")
        }
    }

    private static func error(_ url: URL, _ what: String, _ image: inout png_image) -> DQSSDataError {
        let message = String(cString: dqss_png_message(&image))
        return DQSSDataError("\(url.path): \(what)\(message.isEmpty ? "" : " (libpng: \(message))")")
    }

    // MARK: - Tensors

    /// The image as a [1, channels, height, width] tensor with values byte / 255 in [0, 1]
    /// (the SR protocol's input; no normalisation).
    public func tensor() -> Tensor {
        let t = Tensor(shape: [1, channels, height, width])
        let plane = width * height
        for c in 0..<channels {
            for p in 0..<plane { t.data[c * plane + p] = Float(pixels[p * channels + c]) / 255 }
        }
        return t
    }

    /// An image from a [1, C, H, W] (or [C, H, W]) tensor in [0, 1]: clamp to [0, 1], multiply by 255,
    /// round half to even (as torch.round) to uint8.
    public init(tensor t: Tensor) {
        let s = t.shape
        precondition((s.count == 4 && s[0] == 1) || s.count == 3, "expected [1, C, H, W] or [C, H, W], got \(s)")
        let (c, h, w) = (s[s.count - 3], s[s.count - 2], s[s.count - 1])
        var px = [UInt8](repeating: 0, count: c * h * w)
        let plane = h * w
        for ch in 0..<c {
            for p in 0..<plane {
                let v = min(max(t.data[ch * plane + p], 0), 1) * 255
                px[p * c + ch] = UInt8(v.rounded(.toNearestOrEven))
            }
        }
        self.init(width: w, height: h, channels: c, pixels: px)
    }
}
