import Foundation
import Testing
import DQSSData

@Suite("SRImageSet")
struct SRImageSetTests {
    @Test("the shared Set5 x4 folder has 5 pairs whose HR is 4x the LR",
          .enabled(if: SharedData.exists("sr/Set5/x4"), "shared datasets absent"))
    func set5() throws {
        let set = try SRImageSet(directory: SharedData.url("sr/Set5/x4"), scale: 4)
        #expect(set.pairs.map(\.stem) == (1...5).map { "img_00\($0)_SRF_4" })
        let (_, low, high) = try set.pair(at: 0)
        #expect(high.width == 4 * low.width && high.height == 4 * low.height && low.channels == 3)
    }

    @Test("unpaired images, empty folders and wrong scales are errors naming the folder or file")
    func errors() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        expectDataError([dir.url.path, "no <name>_HR.png"]) { _ = try SRImageSet(directory: dir.url, scale: 2) }
        let small = PNGImage(width: 3, height: 2, channels: 3, pixels: [UInt8](repeating: 9, count: 18))
        let big = PNGImage(width: 6, height: 4, channels: 3, pixels: [UInt8](repeating: 7, count: 72))
        try small.write(to: dir.file("a_LR.png")); try big.write(to: dir.file("a_HR.png"))
        try big.write(to: dir.file("b_HR.png"))
        expectDataError([dir.url.path, "partner: b"]) { _ = try SRImageSet(directory: dir.url, scale: 2) }
        try FileManager.default.removeItem(at: dir.file("b_HR.png"))
        let set = try SRImageSet(directory: dir.url, scale: 2)
        #expect(try set.pair(at: 0).highResolution == big)
        expectDataError([dir.file("a_HR.png").path, "is not x3"]) { _ = try SRImageSet(directory: dir.url, scale: 3).pair(at: 0) }
    }
}
