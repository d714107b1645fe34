// PTQSearchOptions.validationJPEGQuality (`--val-jpeg-quality`): the held-out validation images go through
// JPEG before the §6.2 scores; nothing else changes. On a tiny case (an untrained TinyConvNet on generated
// shapes at W4A3, a 1-epoch search, no peers): the report records the quality, the test rows and the
// search (calibration images) are the same as without, the validation scores are not; a source that does
// not know its normalisation is refused with a message.

import Foundation
import Testing
import DQSSTensor
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSRun

/// Generated shapes quantised to bytes of `norm` (as a real dataset's images are), with the normalisation known.
private func source(_ d: SyntheticDataset, _ norm: Normalization?) -> ClassificationSource {
    let images = Tensor(shape: [0])
    let bytes = norm ?? .imageNet
    return ClassificationSource(count: d.count, imageShape: d.imageShape, normalization: norm) { range in
        let labels = d.fillBatch(Array(range)[...], images: images)
        let plane = images.count / max(images.shape[0], 1) / 3
        for k in 0..<images.count {
            let c = (k / plane) % 3
            images.data[k] = bytes.value(bytes.byte(images.data[k], channel: c), channel: c)
        }
        return (images, labels)
    }
}

private func tinySearch(quality: Int?, normalization: Normalization? = .imageNet) throws -> PTQSearchReport {
    try tinyPTQSearch(epochs: 1, configure: { o in
        o.peers = []
        o.validationJPEGQuality = quality
    }, source: { source($0, normalization) })
}

@Suite("PTQ search with JPEG-decoded validation images (--val-jpeg-quality)")
struct ValidationJPEGTests {
    @Test("the validation scores change, the test rows and the search do not, and the report records the quality")
    func onlyTheScoresChange() throws {
        let plain = try tinySearch(quality: nil), jpeg = try tinySearch(quality: 30)
        #expect(plain.validationJPEGQuality == nil && jpeg.validationJPEGQuality == 30)
        let json = try jpeg.jsonString(), plainJSON = try plain.jsonString()
        #expect(json.contains("\"validation_jpeg_quality\":30") && !plainJSON.contains("validation_jpeg_quality"))
        // Calibration images and test images are untouched: thresholds, uniform rows and the search's θ agree.
        #expect(plain.uniform == jpeg.uniform && plain.fp32Top1 == jpeg.fp32Top1 && plain.dqssNoneTop1 == jpeg.dqssNoneTop1)
        #expect(plain.derivedTop1 == jpeg.derivedTop1)
        #expect(plain.assignment.map(\.thetaActivation) == jpeg.assignment.map(\.thetaActivation))
        // The validation images are not: every score differs.
        #expect(plain.validationScores.keys == jpeg.validationScores.keys)
        for (k, v) in plain.validationScores { #expect(jpeg.validationScores[k] != v, "\(k): \(v)") }
    }

    @Test("a source without its normalisation cannot be put through JPEG: refused, naming the split")
    func unknownNormalisationRefused() {
        #expect {
            _ = try tinySearch(quality: 75, normalization: nil)
        } throws: { error in
            "\(error)".contains("normalisation") && "\(error)".contains("train")
        }
    }
}
