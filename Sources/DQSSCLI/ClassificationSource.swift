// ClassificationSource: labelled, normalised image batches for `dqss eval`, whatever the dataset.
// CIFAR-10 (binary records listed by manifest.json) is the one supported today; ImageNet models can be
// built and loaded, but there is no ImageNet reader yet, which is reported as an error.

import Foundation
import DQSSTensor
import DQSSData
import DQSSModels

struct ClassificationSource {
    /// Number of images in the split.
    let count: Int
    /// [C, H, W] of one image.
    let imageShape: [Int]
    /// Normalised images [B, C, H, W] and labels for images `range` of the split.
    let batch: (Range<Int>) throws -> (images: Tensor, labels: [Int])

    static func open(dataset: String, directory: URL, split: String, normalization: Normalization) throws
        -> ClassificationSource {
        switch dataset {
        case "cifar10":
            return try cifar10(directory: directory, split: split, normalization: normalization)
        default:
            throw ModelError("no \(dataset) reader yet: `dqss eval` can evaluate CIFAR-10 models only")
        }
    }

    private static func cifar10(directory: URL, split: String, normalization: Normalization) throws
        -> ClassificationSource {
        // TEMPORARY: replaced by DQSSData's CIFAR-10 reader when it lands.
        let manifestURL = directory.appendingPathComponent("manifest.json")
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as! [String: Any]
        let splits = root["splits"] as! [String: Any]
        guard let s = splits[split] as? [String: Any] else {
            throw ModelError("\(manifestURL.path): no split \"\(split)\" (have \(splits.keys.sorted()))")
        }
        var bytes: [UInt8] = []
        for f in s["files"] as! [String] { bytes += [UInt8](try Data(contentsOf: directory.appendingPathComponent(f))) }
        let n = bytes.count / 3073
        let mean = normalization.mean, std = normalization.std
        return ClassificationSource(count: n, imageShape: [3, 32, 32]) { range in
            let t = Tensor(shape: [range.count, 3, 32, 32])
            var labels: [Int] = []
            for (k, i) in range.enumerated() {
                labels.append(Int(bytes[i * 3073]))
                for c in 0..<3 { for p in 0..<1024 {
                    t[k * 3072 + c * 1024 + p] = (Float(bytes[i * 3073 + 1 + c * 1024 + p]) / 255 - mean[c]) / std[c]
                } }
            }
            return (t, labels)
        }
    }
}
