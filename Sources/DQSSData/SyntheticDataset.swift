// SyntheticDataset "shapes": small RGB images of procedurally drawn patterns, generated from a seed so
// that every machine gets bit-identical data (no download needed). Used by `dqss demo` and the
// end-to-end learning test.
//
// Classes (label = index % 6, so classes are balanced):
//   0 horizontal, 1 vertical, 4 diagonal stripes (random period 3–5 and phase),
//   2 filled disc, 3 square outline, 5 plus-shaped cross (random centre and size).
// Each image has a random dark/light background and foreground colour pair (either may be the light
// one), plus Gaussian pixel noise; values are centred to roughly [−0.5, 0.5].
// Image i is drawn from its own RNG seeded by (seed, i), so a dataset does not depend on its size
// and images can be generated in parallel.

import DQSSTensor

public struct SyntheticDataset: LabeledImageSource, Sendable {
    public static let classNames = ["horizontal_stripes", "vertical_stripes", "disc", "square_outline",
                                    "diagonal_stripes", "cross"]

    /// [count, 3, size, size]
    public let images: Tensor
    public let labels: [Int]
    public let size: Int
    public var count: Int { labels.count }
    public var classCount: Int { Self.classNames.count }
    public var imageShape: [Int] { [3, size, size] }

    /// - Parameters:
    ///   - count: number of images.
    ///   - size: side length in pixels (at least 8).
    ///   - seed: the data seed; use different seeds for training and held-out data.
    ///   - noise: standard deviation of the additive Gaussian pixel noise.
    public init(count: Int, size: Int = 16, seed: UInt64, noise: Float = 0.25) {
        precondition(count >= 0 && size >= 8, "SyntheticDataset: count \(count), size \(size) (needs size >= 8)")
        self.size = size
        let classes = Self.classNames.count
        labels = (0..<count).map { $0 % classes }
        images = Tensor(shape: [count, 3, size, size])
        let plane = size * size, data = images.data
        parallelFor(count, minChunk: 16) { i in
            var rng = RNG(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(i) &+ 1)
            Self.draw(label: i % classes, size: size, noise: noise, rng: &rng, into: data + i * 3 * plane)
        }
    }

    /// Paints one [3, size, size] image.
    static func draw(label: Int, size: Int, noise: Float, rng: inout RNG, into out: UnsafeMutablePointer<Float>) {
        var dark = (0..<3).map { _ in rng.uniform(0, 0.35) }
        var light = (0..<3).map { _ in rng.uniform(0.65, 1) }
        if rng.uniform() < 0.5 { swap(&dark, &light) }
        let background = dark, foreground = light
        let s = Float(size)
        // Shape parameters (all drawn, whatever the class, to keep the RNG stream simple).
        let period = 3 + rng.int(below: 3)
        let phase = rng.int(below: period)
        let radius = rng.uniform(0.2 * s, 0.35 * s)
        let cx = rng.uniform(radius, s - radius), cy = rng.uniform(radius, s - radius)
        let half = Int(radius.rounded())
        let x0 = Int(cx) - half, y0 = Int(cy) - half, x1 = Int(cx) + half, y1 = Int(cy) + half
        let plane = size * size
        for y in 0..<size {
            for x in 0..<size {
                let on: Bool
                switch label {
                case 0: on = (y + phase) % period < (period + 1) / 2
                case 1: on = (x + phase) % period < (period + 1) / 2
                case 2:
                    let dx = Float(x) + 0.5 - cx, dy = Float(y) + 0.5 - cy
                    on = dx * dx + dy * dy <= radius * radius
                case 3:
                    let inside = x >= x0 && x <= x1 && y >= y0 && y <= y1
                    let border = x == x0 || x == x1 || y == y0 || y == y1
                    on = inside && border
                case 4: on = (x + y + phase) % period < (period + 1) / 2
                default:
                    let inside = x >= x0 && x <= x1 && y >= y0 && y <= y1
                    on = inside && (abs(x - Int(cx)) <= 1 || abs(y - Int(cy)) <= 1)
                }
                for c in 0..<3 {
                    out[c * plane + y * size + x] = (on ? foreground[c] : background[c]) - 0.5 + noise * rng.normal()
                }
            }
        }
    }

    public func fillBatch(_ indices: ArraySlice<Int>, images batch: Tensor) -> [Int] {
        let per = 3 * size * size
        batch.resize(to: [indices.count, 3, size, size])
        var out: [Int] = []
        out.reserveCapacity(indices.count)
        for (k, i) in indices.enumerated() {
            precondition(i >= 0 && i < count, "SyntheticDataset: index \(i) outside 0..<\(count)")
            (batch.data + k * per).update(from: images.data + i * per, count: per)
            out.append(labels[i])
        }
        return out
    }
}
