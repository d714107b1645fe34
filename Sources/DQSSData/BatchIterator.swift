// BatchIterator: shuffled mini-batches over 0..<count, resumable from (epoch, cursor).
//
// Epoch e visits RNG(seed mixed with e).permutation(count) in order, `batchSize` indices at a time (the
// last batch of an epoch is shorter unless `dropLast`). The order of an epoch depends only on (seed, e),
// so a run restored from a checkpoint's `position` continues with exactly the batches it would have seen.

import DQSSTensor

public struct BatchIterator: Sendable {
    /// Where the iterator is; store it in checkpoints.
    public struct Position: Sendable, Equatable, Codable {
        public var epoch: Int
        public var cursor: Int
        public init(epoch: Int = 0, cursor: Int = 0) { self.epoch = epoch; self.cursor = cursor }
    }

    public let count: Int
    public let batchSize: Int
    public let seed: UInt64
    public let shuffle: Bool
    public let dropLast: Bool
    public private(set) var position: Position
    private var order: [Int]

    public init(count: Int, batchSize: Int, seed: UInt64, shuffle: Bool = true, dropLast: Bool = false,
                position: Position = Position()) {
        precondition(count >= 0 && batchSize >= 1, "batch size must be positive")
        self.count = count; self.batchSize = batchSize; self.seed = seed
        self.shuffle = shuffle; self.dropLast = dropLast
        self.position = position
        self.order = []
        self.order = makeOrder(epoch: position.epoch)
    }

    public var epoch: Int { position.epoch }

    /// Batches per epoch.
    public var batchesPerEpoch: Int { dropLast ? count / batchSize : (count + batchSize - 1) / batchSize }

    private func makeOrder(epoch: Int) -> [Int] {
        guard shuffle else { return Array(0..<count) }
        var rng = RNG(seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(truncatingIfNeeded: epoch &+ 1))
        return rng.permutation(count)
    }

    /// The next batch's indices; crosses into the next epoch when the current one is exhausted.
    /// Returns an empty array only when no batch can ever be formed (count 0, or dropLast with
    /// count < batchSize).
    public mutating func next() -> [Int] {
        if batchesPerEpoch == 0 { return [] }
        let remaining = count - position.cursor
        if remaining <= 0 || (dropLast && remaining < batchSize) {
            position = Position(epoch: position.epoch + 1, cursor: 0)
            order = makeOrder(epoch: position.epoch)
        }
        let end = min(position.cursor + batchSize, count)
        let batch = Array(order[position.cursor..<end])
        position.cursor = end
        return batch
    }
}
