import Foundation
import Testing
import DQSSData

@Suite("JPEG decoding (libjpeg-turbo)")
struct JPEGImageTests {
    @Test("a flat-colour JPEG decodes to that colour within 3 levels, at its size, as RGB")
    func flatColour() throws {
        let colour: [UInt8] = [200, 100, 50]
        let flat = PNGImage(width: 40, height: 24, channels: 3, pixels: (0..<(40 * 24)).flatMap { _ in colour })
        let decoded = try PNGImage(jpegData: try flat.jpegData(quality: 95), name: "flat.jpg")
        #expect(decoded.width == 40 && decoded.height == 24 && decoded.channels == 3)
        for p in 0..<(40 * 24) {
            for c in 0..<3 {
                let d = abs(Int(decoded.pixels[3 * p + c]) - Int(colour[c]))
                if d > 3 { Issue.record("pixel \(p) channel \(c): \(decoded.pixels[3 * p + c]) vs \(colour[c])"); return }
            }
        }
    }

    @Test("a gray JPEG decodes to one channel; a smooth RGB ramp survives quality 95 within 6 levels on average")
    func grayAndRamp() throws {
        let gray = PNGImage(width: 16, height: 16, channels: 1, pixels: [UInt8](repeating: 77, count: 256))
        let g = try PNGImage(jpegData: try gray.jpegData(quality: 95), name: "g.jpg")
        #expect(g.channels == 1 && g.pixels.allSatisfy { abs(Int($0) - 77) <= 2 })
        var px: [UInt8] = []
        for y in 0..<32 { for x in 0..<48 { px += [UInt8(x * 5), UInt8(y * 7), UInt8(128)] } }
        let ramp = PNGImage(width: 48, height: 32, channels: 3, pixels: px)
        let r = try PNGImage(jpegData: try ramp.jpegData(quality: 95), name: "r.jpg")
        let meanError = zip(r.pixels, px).map { abs(Double($0) - Double($1)) }.reduce(0, +) / Double(px.count)
        #expect(meanError < 6, "mean |error| \(meanError)")
    }

    @Test("a truncated and a garbled JPEG are errors naming the file, never a crash or exit")
    func corrupt() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let image = PNGImage(width: 64, height: 64, channels: 3, pixels: (0..<(64 * 64 * 3)).map { UInt8($0 % 251) })
        let good = try image.jpegData(quality: 90)
        let truncated = dir.file("truncated.jpg"), garbled = dir.file("garbled.jpg")
        try good.prefix(good.count / 2).write(to: truncated)
        try (Data([0xFF, 0xD8, 0xFF, 0xE0]) + Data((0..<500).map { UInt8(($0 * 37) % 256) })).write(to: garbled)
        for url in [truncated, garbled] {
            do {
                _ = try PNGImage(imageContentsOf: url)
                Issue.record("\(url.lastPathComponent) decoded")
            } catch {
                #expect("\(error)".contains(url.path), "\(error)")
                #expect("\(error)".contains("JPEG"), "\(error)")
            }
        }
    }

    @Test("files are told apart by content: a PNG named .JPEG decodes as PNG, a text file is refused by name")
    func formatByContent() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let image = PNGImage(width: 3, height: 2, channels: 3, pixels: Array(0..<18).map { UInt8($0 * 9) })
        let disguised = dir.file("really-a-png.JPEG")
        try image.write(to: disguised)
        #expect(try PNGImage(imageContentsOf: disguised) == image)
        let text = dir.file("x.jpg")
        try Data("hello".utf8).write(to: text)
        #expect(throws: (any Error).self) { try PNGImage(imageContentsOf: text) }
        do { _ = try PNGImage(imageContentsOf: text) } catch { #expect("\(error)".contains(text.path)) }
    }
}

@Suite("Resize and centre crop")
struct ImageResizeTests {
    @Test("halving a row uses the antialiased bilinear taps 1/8 3/8 3/8 1/8 (clipped at the border): 0 40 80 120 -> 29 91")
    func halving() {
        // Output 0: centre 1, taps 0, 1, 2 with weights 0.75, 0.75, 0.25 (tap -1 outside): 50 / 1.75 = 28.57.
        // Output 1: centre 3, taps 1, 2, 3 with weights 0.25, 0.75, 0.75: 160 / 1.75 = 91.43.
        let row = PNGImage(width: 4, height: 1, channels: 1, pixels: [0, 40, 80, 120])
        #expect(row.resized(width: 2, height: 1).pixels == [29, 91])
    }

    @Test("a flat image stays flat at any size; an unchanged size is the identity")
    func flatAndIdentity() {
        let flat = PNGImage(width: 13, height: 7, channels: 3, pixels: [UInt8](repeating: 201, count: 13 * 7 * 3))
        #expect(flat.resized(width: 5, height: 11).pixels.allSatisfy { $0 == 201 })
        let noise = PNGImage(width: 6, height: 4, channels: 1, pixels: (0..<24).map { UInt8(($0 * 53) % 256) })
        #expect(noise.resized(width: 6, height: 4) == noise)
    }

    @Test("the shorter side becomes S and the longer int(S * long / short), as torchvision's Resize(S)")
    func sizes() {
        #expect(PNGImage.shorterSideSize(width: 500, height: 375, side: 256) == (341, 256))
        #expect(PNGImage.shorterSideSize(width: 375, height: 500, side: 256) == (256, 341))
        #expect(PNGImage.shorterSideSize(width: 300, height: 300, side: 224) == (224, 224))
    }

    @Test("centre crop offsets are round((H - C) / 2), round((W - C) / 2), halves to even")
    func crop() {
        // 12 x 10, crop 5: top = round(2.5) = 2 (half to even, not 3), left = round(3.5) = 4 (not 3).
        let image = PNGImage(width: 12, height: 10, channels: 1, pixels: (0..<120).map { UInt8($0) })
        let c = image.centerCropped(5)
        let expected: [UInt8] = (0..<25).map { (i: Int) -> UInt8 in UInt8((2 + i / 5) * 12 + 4 + i % 5) }
        #expect(c.pixels == expected)
        let gray = PNGImage(width: 2, height: 1, channels: 1, pixels: [9, 250])
        #expect(gray.rgb().pixels == [9, 9, 9, 250, 250, 250])
    }
}
