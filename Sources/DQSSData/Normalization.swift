// Normalization: per-channel x = (byte / 255 - mean[c]) / std[c], as torchvision's ToTensor + Normalize.
//
// The arithmetic is done in float32 in that order (divide by 255, subtract, divide), once per byte value,
// into a 3 x 256 table; normalising an image is then a table lookup, bit-identical to the PyTorch
// pipeline that produced the baselines. The model manifests give mean and std.

public struct Normalization: Sendable, Equatable {
    public let mean: [Float]
    public let std: [Float]
    /// table[256 * c + byte]
    public let table: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count && !mean.isEmpty, "mean and std need one value per channel")
        precondition(std.allSatisfy { $0 > 0 }, "std must be positive")
        self.mean = mean; self.std = std
        var t = [Float](repeating: 0, count: 256 * mean.count)
        for c in 0..<mean.count {
            for b in 0..<256 { t[256 * c + b] = (Float(b) / 255 - mean[c]) / std[c] }
        }
        table = t
    }

    /// ImageNet statistics, used by akamaster's CIFAR ResNets.
    public static let imageNet = Normalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    /// CIFAR-10 statistics, used by chenyaofo's models.
    public static let cifar10 = Normalization(mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.201])

    /// The normalised value of byte `b` in channel `c`.
    public func value(_ b: UInt8, channel c: Int) -> Float { table[256 * c + Int(b)] }

    public func withTable<R>(_ body: (UnsafePointer<Float>) -> R) -> R {
        table.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
