// CIFAR10Source: a CIFAR-10 dataset plus its preprocessing, as a LabeledImageSource, so the generic
// training/evaluation loops run on it unchanged.
//
// Images are normalised with the model's mean/std; with `augmentation` set (training), each image is
// flipped/cropped as drawn for (`epoch`, its global index). Set `epoch` before each training epoch.

import DQSSTensor

public struct CIFAR10Source: LabeledImageSource, Sendable {
    public let dataset: CIFAR10Dataset
    public let normalization: Normalization
    public let augmentation: Augmentation?
    public var epoch: Int

    public init(_ dataset: CIFAR10Dataset, normalization: Normalization, augmentation: Augmentation? = nil, epoch: Int = 0) {
        self.dataset = dataset; self.normalization = normalization
        self.augmentation = augmentation; self.epoch = epoch
    }

    public var count: Int { dataset.count }
    public var classCount: Int { CIFAR10Dataset.classes }
    public var imageShape: [Int] { [CIFAR10Dataset.channels, CIFAR10Dataset.height, CIFAR10Dataset.width] }

    public func fillBatch(_ indices: ArraySlice<Int>, images: Tensor) -> [Int] {
        dataset.fillBatch(indices: Array(indices), into: images, normalization: normalization,
                          augmentation: augmentation, epoch: epoch)
    }
}

extension CIFAR10Dataset {
    /// The records at `indices` (local numbers, any order, e.g. from CalibrationSampler) as a new
    /// in-memory dataset. Global indices are not contiguous any more, so `firstIndex` is that of the
    /// first pick and augmentation keys on the new local positions.
    public func subset(indices: [Int]) -> CIFAR10Dataset {
        var px = [UInt8](repeating: 0, count: indices.count * Self.imageBytes)
        var labels = [Int](repeating: 0, count: indices.count)
        pixels.withUnsafeBufferPointer { src in
            px.withUnsafeMutableBufferPointer { dst in
                for (k, i) in indices.enumerated() {
                    precondition(i >= 0 && i < count, "record \(i) outside 0..<\(count) of \(name)")
                    labels[k] = self.labels[i]
                    (dst.baseAddress! + k * Self.imageBytes).update(from: src.baseAddress! + i * Self.imageBytes, count: Self.imageBytes)
                }
            }
        }
        return CIFAR10Dataset(name: name, labels: labels, pixels: px, firstIndex: 0, splitCount: indices.count)
    }
}
