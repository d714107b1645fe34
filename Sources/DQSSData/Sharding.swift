// Sharding: which contiguous record range each of `size` ranks reads.
//
// Records are split into `size` contiguous ranges whose lengths differ by at most one (the first
// count % size ranks get one extra). The ranges partition 0..<count in rank order, so gathering per-rank
// results in rank order gives the records in their original order.

public enum Sharding {
    public static func range(count: Int, rank: Int, size: Int) -> Range<Int> {
        precondition(size >= 1 && rank >= 0 && rank < size && count >= 0, "bad shard rank \(rank) of \(size)")
        let base = count / size, extra = count % size
        let lo = rank * base + min(rank, extra)
        return lo ..< lo + base + (rank < extra ? 1 : 0)
    }
}
