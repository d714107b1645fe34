import Foundation
import Testing
import DQSSData
import DQSSTensor

/// Width and height from the IHDR chunk, parsed by hand: 8-byte signature, then length (4), "IHDR",
/// width (4, big-endian), height (4, big-endian), bit depth, colour type.
func ihdr(_ data: Data) -> (width: Int, height: Int, colorType: Int)? {
    let b = [UInt8](data.prefix(26))
    guard b.count == 26, b[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], String(bytes: b[12..<16], encoding: .ascii) == "IHDR"
    else { return nil }
    let be = { (i: Int) in b[i..<i + 4].reduce(0) { $0 << 8 | Int($1) } }
    return (be(16), be(20), Int(b[25]))
}

@Suite("PNGImage")
struct PNGImageTests {
    static let set5 = "sr/Set5/x4/img_001_SRF_4_HR.png"

    @Test("a generated RGB and a gray image survive write + read byte for byte")
    func roundTrip() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        var rng = RNG(seed: 4)
        let rgb = PNGImage(width: 37, height: 21, channels: 3, pixels: (0..<(37 * 21 * 3)).map { _ in UInt8(rng.int(below: 256)) })
        let url = dir.file("rgb.png")
        try rgb.write(to: url)
        #expect(try PNGImage(contentsOf: url) == rgb)
        #expect(ihdr(try Data(contentsOf: url))! == (37, 21, 2))
        let gray = PNGImage(width: 5, height: 9, channels: 1, pixels: (0..<45).map { UInt8($0 * 5) })
        try gray.write(to: dir.file("g.png"))
        #expect(try PNGImage(contentsOf: dir.file("g.png")) == gray)
        // No temporary files are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path).sorted() == ["g.png", "rgb.png"])
    }

    @Test("tensor conversion: bytes/255 in NCHW, and back with clamping and rounding")
    func tensors() {
        let img = PNGImage(width: 2, height: 1, channels: 3, pixels: [0, 128, 255, 10, 20, 30])
        let t = img.tensor()
        #expect(t.shape == [1, 3, 1, 2])
        #expect(t[0, 0, 0, 1] == Float(10) / 255 && t[0, 1, 0, 0] == Float(128) / 255 && t[0, 2, 0, 0] == 1)
        #expect(PNGImage(tensor: t) == img)
        let out = PNGImage(tensor: Tensor(shape: [1, 1, 1, 4], values: [-0.5, 1.5, 0.5 / 255, 1.5 / 255]))
        #expect(out.pixels == [0, 255, 0, 2])   // 0.5 and 1.5 round half to even
    }

    @Test("missing and corrupt files are errors naming the file")
    func errors() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let missing = dir.file("none.png")
        expectDataError([missing.path, "cannot read PNG"]) { _ = try PNGImage(contentsOf: missing) }
        let junk = dir.file("junk.png")
        try Data("not a png at all".utf8).write(to: junk)
        expectDataError([junk.path, "libpng"]) { _ = try PNGImage(contentsOf: junk) }
        // A truncated real PNG: the header reads, the pixel data does not.
        let img = PNGImage(width: 64, height: 64, channels: 3, pixels: (0..<(64 * 64 * 3)).map { UInt8($0 % 251) })
        let full = dir.file("full.png")
        try img.write(to: full)
        let bytes = try Data(contentsOf: full)
        try bytes.prefix(bytes.count / 2).write(to: junk)
        expectDataError([junk.path]) { _ = try PNGImage(contentsOf: junk) }
        expectDataError([dir.file("no/such/dir/x.png").path, "cannot write PNG"]) { try img.write(to: dir.file("no/such/dir/x.png")) }
    }

    @Test("a real Set5 PNG decodes with the size its IHDR states",
          .enabled(if: SharedData.exists(set5), "shared datasets absent"))
    func realSet5() throws {
        let url = SharedData.url(Self.set5)
        let header = ihdr(try Data(contentsOf: url))!
        let img = try PNGImage(contentsOf: url)
        #expect(img.width == header.width && img.height == header.height)
        #expect(img.channels == (header.colorType & 2 != 0 ? 3 : 1))
        #expect(img.pixels.count == img.width * img.height * img.channels)
        #expect(Set(img.pixels).count > 100, "a photo has many distinct values")
    }
}
