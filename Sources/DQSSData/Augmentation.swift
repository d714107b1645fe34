// Augmentation: the standard CIFAR training augmentation, seeded.
//
// As in akamaster's trainer (transforms.RandomHorizontalFlip(), transforms.RandomCrop(32, 4)):
// flip left-right with probability 0.5, then pad 4 pixels of zeros on every side and crop a 32x32 window
// at a uniform offset (dy, dx) in 0...8. The padding is zero in PIXEL space (black, before ToTensor and
// Normalize, as torchvision does on the PIL image), so padded positions hold (0 - mean[c]) / std[c].
// Parameters are drawn from an RNG seeded by (seed, epoch, global image index): the same image gets the
// same crop/flip in the same epoch whatever the batch, shuffle order, shard or resume point.

import DQSSTensor

public struct Augmentation: Sendable, Equatable {
    public static let padding = 4

    public let seed: UInt64
    public init(seed: UInt64) { self.seed = seed }

    /// One image's draw: flip, and the crop window's top-left corner in the padded 40x40 image.
    public struct Parameters: Sendable, Equatable {
        public var flip: Bool
        public var dy: Int
        public var dx: Int
        public init(flip: Bool, dy: Int, dx: Int) { self.flip = flip; self.dy = dy; self.dx = dx }
        /// The identity: no flip, centre crop.
        public static let identity = Parameters(flip: false, dy: Augmentation.padding, dx: Augmentation.padding)
    }

    public func parameters(epoch: Int, index: Int) -> Parameters {
        // Mix the three numbers into one SplitMix64 seed; RNG's own SplitMix64 then decorrelates them.
        var key = seed &* 0x9E37_79B9_7F4A_7C15
        key = (key ^ UInt64(truncatingIfNeeded: epoch)) &* 0xBF58_476D_1CE4_E5B9
        key = (key ^ UInt64(truncatingIfNeeded: index)) &* 0x94D0_49BB_1331_11EB
        var rng = RNG(seed: key)
        let flip = rng.int(below: 2) == 1
        let span = 2 * Self.padding + 1
        return Parameters(flip: flip, dy: rng.int(below: span), dx: rng.int(below: span))
    }

    /// Write the augmented, normalised 3x32x32 image (public for tests and custom batchers; `table` is
    /// `Normalization.withTable`). Output (y, x) reads the flipped source at
    /// (y + dy - 4, x + dx - 4), i.e. source column 31 - (x + dx - 4) when flipped; outside the image
    /// it is the normalised zero byte.
    public static func apply(_ p: Parameters, source: UnsafePointer<UInt8>, table: UnsafePointer<Float>,
                      destination: UnsafeMutablePointer<Float>) {
        let size = 32
        for c in 0..<3 {
            let t = table + 256 * c
            let zero = t[0]
            let plane = source + c * 1024
            let out = destination + c * 1024
            for y in 0..<size {
                let sy = y + p.dy - padding
                if sy < 0 || sy >= size {
                    for x in 0..<size { out[y * size + x] = zero }
                    continue
                }
                for x in 0..<size {
                    let fx = x + p.dx - padding
                    if fx < 0 || fx >= size { out[y * size + x] = zero; continue }
                    let sx = p.flip ? size - 1 - fx : fx
                    out[y * size + x] = t[Int(plane[sy * size + sx])]
                }
            }
        }
    }
}
