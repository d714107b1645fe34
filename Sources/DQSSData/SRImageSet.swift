// SRImageSet: a folder of super-resolution test pairs, `<stem>_HR.png` + `<stem>_LR.png`
// (the layout of the shared Set5/Set14 x4 folders, e.g. img_001_SRF_4_HR.png / img_001_SRF_4_LR.png).
//
// Contract: pairs are sorted by stem; an HR without its LR (or the reverse) or an empty folder is an
// error naming the folder and the stem. Images are decoded on demand (`pair(at:)`), and the HR size
// must be exactly `scale` times the LR size.

import Foundation

public struct SRImageSet: Sendable {
    public struct Pair: Sendable {
        public let stem: String
        public let lowResolution: URL
        public let highResolution: URL
    }

    public let directory: URL
    public let scale: Int
    public let pairs: [Pair]

    public init(directory: URL, scale: Int) throws {
        precondition(scale >= 1)
        self.directory = directory
        self.scale = scale
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw DQSSDataError("\(directory.path): cannot list the SR image folder (\(error.localizedDescription))")
        }
        var hr: [String: URL] = [:], lr: [String: URL] = [:]
        for n in names where n.lowercased().hasSuffix(".png") {
            let base = String(n.dropLast(4))
            if base.hasSuffix("_HR") { hr[String(base.dropLast(3))] = directory.appendingPathComponent(n) }
            if base.hasSuffix("_LR") { lr[String(base.dropLast(3))] = directory.appendingPathComponent(n) }
        }
        let unpaired = Set(hr.keys).symmetricDifference(lr.keys).sorted()
        guard unpaired.isEmpty else {
            throw DQSSDataError("\(directory.path): images without their _HR/_LR partner: \(unpaired.joined(separator: ", "))")
        }
        guard !hr.isEmpty else {
            throw DQSSDataError("\(directory.path): no <name>_HR.png / <name>_LR.png pairs")
        }
        pairs = hr.keys.sorted().map { Pair(stem: $0, lowResolution: lr[$0]!, highResolution: hr[$0]!) }
    }

    /// Decode pair `i`; checks HR size = scale x LR size and equal channel counts.
    public func pair(at i: Int) throws -> (stem: String, lowResolution: PNGImage, highResolution: PNGImage) {
        let p = pairs[i]
        let low = try PNGImage(contentsOf: p.lowResolution), high = try PNGImage(contentsOf: p.highResolution)
        guard high.width == scale * low.width, high.height == scale * low.height, high.channels == low.channels else {
            throw DQSSDataError("\(p.highResolution.path): \(high.width)x\(high.height)x\(high.channels) is not x\(scale) of "
                                + "\(p.lowResolution.lastPathComponent) (\(low.width)x\(low.height)x\(low.channels))")
        }
        return (p.stem, low, high)
    }
}
