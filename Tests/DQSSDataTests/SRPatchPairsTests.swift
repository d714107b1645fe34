import Foundation
import Testing
import DQSSTensor
import DQSSData

@Suite("SRPatchPairs")
struct SRPatchPairsTests {
    /// Two 32x32 records with distinct, position-dependent bytes.
    func dataset() -> CIFAR10Dataset {
        let px: [UInt8] = (0..<(2 * 3072)).map { (i: Int) -> UInt8 in UInt8((i * 7 + i / 97) % 256) }
        return CIFAR10Dataset(name: "synthetic", labels: [0, 1], pixels: px)
    }

    @Test("whole-image pairs: HR is the record /255, LR is its MATLAB-bicubic x4 downscale")
    func wholeImage() throws {
        let ds = dataset()
        let p = try SRPatchPairs.cifar(ds, indices: [1, 0], scale: 4, seed: 3)
        #expect(p.highResolution.shape == [2, 3, 32, 32])
        #expect(p.lowResolution.shape == [2, 3, 8, 8])
        // HR of pair 0 is record 1, R plane pixel (5, 9).
        #expect(p.highResolution.data[5 * 32 + 9] == Float(ds.pixels[3072 + 5 * 32 + 9]) / 255)
        // LR against BicubicResize of the same interleaved image.
        var inter = [UInt8](repeating: 0, count: 3072)
        for c in 0..<3 { for i in 0..<1024 { inter[i * 3 + c] = ds.pixels[3072 + c * 1024 + i] } }
        let low = BicubicResize.downscale(PNGImage(width: 32, height: 32, channels: 3, pixels: inter), factor: 4)
        for c in 0..<3 {
            for i in 0..<64 { #expect(p.lowResolution.data[c * 64 + i] == Float(low.pixels[i * 3 + c]) / 255) }
        }
    }

    @Test("cropped pairs are HR crops of the record, LR x4 smaller; a bad index or patch size is an error")
    func cropsAndErrors() throws {
        let ds = dataset()
        let p = try SRPatchPairs.cifar(ds, indices: [0], scale: 4, patch: 16, seed: 9)
        #expect(p.highResolution.shape == [1, 3, 16, 16] && p.lowResolution.shape == [1, 3, 4, 4])
        // The crop is a contiguous window of the record: find its origin from the first pixel and check a row.
        let v0 = p.highResolution.data[0]
        let origin = (0...16).flatMap { y in (0...16).map { (y, $0) } }.first { (y, x) in
            (0..<16).allSatisfy { dx in Float(ds.pixels[y * 32 + x + dx]) / 255 == p.highResolution.data[dx] }
                && Float(ds.pixels[y * 32 + x]) / 255 == v0
        }
        #expect(origin != nil)
        #expect(throws: DQSSDataError.self) { try SRPatchPairs.cifar(ds, indices: [2], scale: 4, seed: 0) }
        #expect(throws: DQSSDataError.self) { try SRPatchPairs.cifar(ds, indices: [0], scale: 4, patch: 18, seed: 0) }
        let half = p.slice(0..<1)
        #expect(half.lowResolution.array == p.lowResolution.array)
    }
}
