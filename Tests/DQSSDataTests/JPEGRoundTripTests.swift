import Foundation
import Testing
import DQSSTensor
import DQSSData

@Suite("JPEG round trip of normalised images (the PTQ search's --val-jpeg-quality)")
struct JPEGRoundTripTests {
    /// A textured 3-channel image batch [2, 3, 16, 16] as bytes, and its normalised tensor.
    func batch(_ norm: Normalization) -> (bytes: [[UInt8]], tensor: Tensor) {
        var bytes: [[UInt8]] = []
        let t = Tensor(shape: [2, 3, 16, 16])
        var rng = RNG(seed: 7)
        for i in 0..<2 {
            var interleaved = [UInt8](repeating: 0, count: 3 * 256)
            for p in 0..<256 {
                for c in 0..<3 {
                    let smooth = (p % 16) * 9 + (p / 16) * 5 + c * 40 + i * 17
                    let b = UInt8(min(255, max(0, smooth % 256 + Int(rng.uniform() * 24) - 12)))
                    interleaved[3 * p + c] = b
                    t.data[i * 768 + c * 256 + p] = norm.value(b, channel: c)
                }
            }
            bytes.append(interleaved)
        }
        return (bytes, t)
    }

    @Test("every byte of every channel is recovered exactly from its normalised value")
    func bytesRecovered() {
        for norm in [Normalization.imageNet, Normalization.cifar10] {
            for c in 0..<3 {
                for b in 0..<256 where norm.byte(norm.value(UInt8(b), channel: c), channel: c) != UInt8(b) {
                    Issue.record("channel \(c): byte \(b) comes back as \(norm.byte(norm.value(UInt8(b), channel: c), channel: c))")
                }
            }
        }
    }

    @Test("the round trip equals encoding the bytes with PNGImage.jpegData and decoding them, normalised again")
    func equalsEncodeDecodeOfTheBytes() throws {
        let norm = Normalization.imageNet
        let (bytes, images) = batch(norm)
        let out = try norm.jpegRoundTrip(images, quality: 75)
        #expect(out.shape == images.shape)
        for (i, interleaved) in bytes.enumerated() {
            let decoded = try PNGImage(jpegData: try PNGImage(width: 16, height: 16, channels: 3, pixels: interleaved).jpegData(quality: 75), name: "x")
            for p in 0..<256 {
                for c in 0..<3 where out.data[i * 768 + c * 256 + p] != norm.value(decoded.pixels[3 * p + c], channel: c) {
                    Issue.record("image \(i) pixel \(p) channel \(c) differs"); return
                }
            }
        }
        // The input is untouched and the round trip changed something (a JPEG of a noisy texture is lossy).
        #expect(images.data[0] == norm.value(bytes[0][0], channel: 0))
        #expect((0..<images.count).contains { out.data[$0] != images.data[$0] })
    }

    @Test("lower quality changes the images more (mean absolute byte error q30 > q75 > q95)")
    func qualityOrdersTheError() throws {
        let norm = Normalization.cifar10
        let (_, images) = batch(norm)
        func error(_ q: Int) throws -> Double {
            let out = try norm.jpegRoundTrip(images, quality: q)
            var sum = 0.0
            for k in 0..<images.count {
                let c = (k / 256) % 3
                sum += abs(Double(norm.byte(out.data[k], channel: c)) - Double(norm.byte(images.data[k], channel: c)))
            }
            return sum / Double(images.count)
        }
        let (e30, e75, e95) = (try error(30), try error(75), try error(95))
        #expect(e30 > e75 && e75 > e95 && e95 > 0, "mean |Δ byte|: q30 \(e30), q75 \(e75), q95 \(e95)")
    }

    @Test("a 4-channel batch, a rank-2 tensor, quality 0 and a NaN pixel are refused with a message naming the image")
    func refusesBadInput() {
        let norm = Normalization.imageNet
        #expect(throws: DQSSDataError.self) { try norm.jpegRoundTrip(Tensor(shape: [1, 4, 8, 8]), quality: 75) }
        #expect(throws: DQSSDataError.self) { try norm.jpegRoundTrip(Tensor(shape: [3, 64]), quality: 75) }
        #expect(throws: DQSSDataError.self) { try norm.jpegRoundTrip(Tensor(shape: [1, 3, 8, 8]), quality: 0) }
        let nan = Tensor(shape: [2, 3, 8, 8])
        nan.data[192 + 5] = .nan
        #expect { try norm.jpegRoundTrip(nan, quality: 75) } throws: { "\($0)".contains("image 1") && "\($0)".contains("nan") }
        // Out-of-range and non-finite values clamp instead of trapping in the Int conversion.
        #expect(norm.byte(1e30, channel: 0) == 255 && norm.byte(-1e30, channel: 1) == 0 && norm.byte(.nan, channel: 2) == 0)
    }
}
