// JPEG reading and writing (libjpeg-turbo through the _CJPEG shim) into the package's 8-bit image
// value, `PNGImage` (named after the first format it read; it is simply width x height x 1|3 bytes).
//
// Contract: gray JPEGs decode to 1 channel, everything else to RGB (CMYK converted). A file libjpeg
// cannot decode, or one that ends early, is a DQSSDataError naming the file with libjpeg's message;
// libjpeg never prints or exits (the shim's setjmp handler turns its fatal errors into a return code).
// The C side hands back malloc'ed buffers, copied into Swift arrays and freed here at once.

import _CJPEG
import Foundation

extension PNGImage {
    /// Decode JPEG bytes; `name` is used in error messages (a path, usually). An image that declares
    /// more than `maxPixels` pixels (width x height) is refused before any pixel memory is allocated.
    public init(jpegData data: Data, name: String, maxPixels: Int = PNGImage.defaultMaxPixels) throws {
        var pixels: UnsafeMutablePointer<UInt8>? = nil
        var (w, h, c): (Int32, Int32, Int32) = (0, 0, 0)
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { raw -> Int32 in
            dqss_jpeg_decode(raw.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt(raw.count),
                             Int64(maxPixels), &pixels, &w, &h, &c, &message, message.count)
        }
        guard status == 0, let pixels else {
            let why = Self.text(message)
            throw DQSSDataError("\(name): cannot decode JPEG (libjpeg: \(why.isEmpty ? "no reason given" : why))")
        }
        defer { free(pixels) }
        let count = Int(w) * Int(h) * Int(c)
        self.init(width: Int(w), height: Int(h), channels: Int(c),
                  pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }

    /// Decode a JPEG file.
    public init(jpegContentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DQSSDataError("\(url.path): cannot read (\(error.localizedDescription))")
        }
        try self.init(jpegData: data, name: url.path)
    }

    /// Encode as a baseline JPEG of `quality` (1...100).
    public func jpegData(quality: Int = 90) throws -> Data {
        precondition((1...100).contains(quality), "JPEG quality \(quality) outside 1...100")
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = pixels.withUnsafeBufferPointer { px in
            dqss_jpeg_encode(px.baseAddress, Int32(width), Int32(height), Int32(channels), Int32(quality),
                             &out, &size, &message, message.count)
        }
        guard status == 0, let out else {
            throw DQSSDataError("cannot encode a \(width)x\(height) JPEG (libjpeg: \(Self.text(message)))")
        }
        defer { free(out) }
        return Data(bytes: out, count: Int(size))
    }

    private static func text(_ message: [CChar]) -> String {
        String(decoding: message.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: - Either format

    /// Which decoder a file needs, from its first bytes (not its name: some ".JPEG" files in ImageNet
    /// are PNGs). nil for anything else.
    public enum FileFormat: String, Sendable { case png, jpeg }

    public static func format(ofHeader bytes: some Collection<UInt8>) -> FileFormat? {
        let b = Array(bytes.prefix(8))
        if b.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if b.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        return nil
    }

    /// Decode a PNG or JPEG file, whichever its content is; anything else throws naming the file, and
    /// so does an image declaring more than `maxPixels` pixels (checked from its header, before decoding).
    public init(imageContentsOf url: URL, maxPixels: Int = PNGImage.defaultMaxPixels) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DQSSDataError("\(url.path): cannot read (\(error.localizedDescription))")
        }
        switch Self.format(ofHeader: data) {
        case .jpeg: try self.init(jpegData: data, name: url.path, maxPixels: maxPixels)
        case .png: try self.init(contentsOf: url, maxPixels: maxPixels)
        case nil: throw DQSSDataError("\(url.path): neither a PNG nor a JPEG (unrecognised first bytes)")
        }
    }
}
