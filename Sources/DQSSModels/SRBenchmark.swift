// SRBenchmark: PSNR/SSIM of an SR network on test sets, the protocol of BASELINES.md / the IMDN manifest:
//
//   LR input = the set's *_LR.png as RGB in [0, 1];  SR = network output clamped to [0, 1], ×255, rounded
//   (half to even) to uint8;  Y = BT.601 luma of SR and HR (LumaY, float unless `roundedY`);  `scale`
//   pixels shaved from every border;  PSNR = 10 log10(255²/MSE) and SSIM (11×11 Gaussian, σ 1.5) per
//   image, each averaged over the images of a set.
//
// A benchmark decodes its images once (HR Y planes shaved in advance), so that many networks (FP32,
// every quantized candidate) can be scored on identical inputs.
//
// Directory layout: DIR holds one folder per test set; a set's images sit in `<set>/x<scale>/` when that
// folder exists, else in `<set>/` itself (pairs `<stem>_HR.png` + `<stem>_LR.png`, see SRImageSet).

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData

extension PNGImage {
    /// This image with 3 channels: gray samples replicated into R, G and B; RGB images unchanged.
    public var rgb: PNGImage {
        guard channels == 1 else { return self }
        var px = [UInt8](repeating: 0, count: pixels.count * 3)
        for (i, v) in pixels.enumerated() { px[3 * i] = v; px[3 * i + 1] = v; px[3 * i + 2] = v }
        return PNGImage(width: width, height: height, channels: 3, pixels: px)
    }
}

/// PSNR/SSIM of one image.
public struct SRImageScore: Sendable, Codable, Equatable {
    public var stem: String
    public var psnr: Double
    public var ssim: Double
    /// PSNR with Y rounded to integers first (MATLAB rgb2ycbcr on uint8), for comparison.
    public var psnrRoundedY: Double

    enum CodingKeys: String, CodingKey {
        case stem, psnr, ssim
        case psnrRoundedY = "psnr_rounded_y"
    }
}

/// The scores of one test set: per image and the means.
public struct SRSetScore: Sendable, Codable, Equatable {
    public var name: String
    public var psnr: Double
    public var ssim: Double
    public var psnrRoundedY: Double
    public var images: [SRImageScore]

    enum CodingKeys: String, CodingKey {
        case name, psnr, ssim, images
        case psnrRoundedY = "psnr_rounded_y"
    }
}

public final class SRBenchmark {
    struct Image {
        let stem: String
        let lowResolution: Tensor
        let width: Int, height: Int
        let hrY: [Double]
        let hrYRounded: [Double]
    }
    public struct TestSet {
        public let name: String
        let images: [Image]
        public var count: Int { images.count }
    }

    public let scale: Int
    public let sets: [TestSet]

    /// Load every test set under `directory` (or only `names`, in that order).
    public init(directory: URL, scale: Int, names: [String]? = nil) throws {
        self.scale = scale
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw DQSSDataError("\(directory.path): SR data directory not found")
        }
        let chosen: [String]
        if let names {
            chosen = names
        } else {
            chosen = try fm.contentsOfDirectory(atPath: directory.path).filter {
                var d: ObjCBool = false
                return !$0.hasPrefix(".") && fm.fileExists(atPath: directory.appendingPathComponent($0).path, isDirectory: &d) && d.boolValue
            }.sorted { $0.localizedStandardCompare($1) == .orderedAscending }
        }
        guard !chosen.isEmpty else { throw DQSSDataError("\(directory.path): no test-set folders") }
        sets = try chosen.map { name in
            var folder = directory.appendingPathComponent(name)
            guard fm.fileExists(atPath: folder.path) else {
                throw DQSSDataError("\(folder.path): test set \"\(name)\" not found")
            }
            let scaled = folder.appendingPathComponent("x\(scale)")
            if fm.fileExists(atPath: scaled.path) { folder = scaled }
            let set = try SRImageSet(directory: folder, scale: scale)
            let images = try set.pairs.indices.map { i -> Image in
                let p = try set.pair(at: i)
                // Grayscale pairs (three of Set14) are replicated to RGB, as PIL's convert("RGB") does.
                let hr = p.highResolution.rgb, lr = p.lowResolution.rgb
                return Image(stem: p.stem, lowResolution: lr.tensor(), width: hr.width, height: hr.height,
                             hrY: LumaY.shave(LumaY.plane(hr), width: hr.width, height: hr.height, border: scale),
                             hrYRounded: LumaY.shave(LumaY.plane(hr, rounded: true), width: hr.width, height: hr.height,
                                                     border: scale))
            }
            return TestSet(name: name, images: images)
        }
    }

    /// Scores of `image` SR output (8-bit) against its HR.
    func score(_ sr: PNGImage, _ image: Image) -> SRImageScore {
        let (w, h, b) = (image.width, image.height, scale)
        let y = LumaY.shave(LumaY.plane(sr), width: w, height: h, border: b)
        let yr = LumaY.shave(LumaY.plane(sr, rounded: true), width: w, height: h, border: b)
        return SRImageScore(stem: image.stem, psnr: PSNR.compute(y, image.hrY),
                            ssim: SSIM.compute(y, image.hrY, width: w - 2 * b, height: h - 2 * b),
                            psnrRoundedY: PSNR.compute(yr, image.hrYRounded))
    }

    /// Run `model` over every image of every set.
    /// - Parameters:
    ///   - tile: LR tile size for TiledInference (nil: whole images).
    ///   - saveDirectory: write each SR output as `<dir>/<set>/<stem>_SR.png`.
    ///   - progress: called after each image with (set, stem, seconds for it).
    public func evaluate(_ model: any UnaryLayer, tile: Int? = nil, overlap: Int = 0, saveDirectory: URL? = nil,
                         progress: ((String, String, Double) -> Void)? = nil) throws -> [SRSetScore] {
        model.setTraining(false)
        return try sets.map { set in
            var scores: [SRImageScore] = []
            for image in set.images {
                let start = Date()
                let out = TiledInference.run(model, lowResolution: image.lowResolution, scale: scale, tile: tile,
                                             overlap: overlap)
                guard out.c == 3, out.h == image.height, out.w == image.width else {
                    throw ModelError("\(set.name)/\(image.stem): network output \(out.shape) does not match the HR image "
                                     + "\(image.width)x\(image.height)")
                }
                let sr = PNGImage(tensor: out)
                if let saveDirectory {
                    let dir = saveDirectory.appendingPathComponent(set.name)
                    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                    try sr.write(to: dir.appendingPathComponent("\(image.stem)_SR.png"))
                }
                scores.append(score(sr, image))
                progress?(set.name, image.stem, Date().timeIntervalSince(start))
            }
            let n = Double(scores.count)
            return SRSetScore(name: set.name, psnr: scores.map(\.psnr).reduce(0, +) / n,
                              ssim: scores.map(\.ssim).reduce(0, +) / n,
                              psnrRoundedY: scores.map(\.psnrRoundedY).reduce(0, +) / n, images: scores)
        }
    }
}
