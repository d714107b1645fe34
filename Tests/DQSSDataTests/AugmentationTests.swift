import Foundation
import Testing
import DQSSData
import DQSSTensor

@Suite("Augmentation")
struct AugmentationTests {
    /// Naive reference: flip, pad 4 zeros explicitly into a 40x40 byte image, crop at (dy, dx), normalise.
    func reference(_ pixels: [UInt8], _ p: Augmentation.Parameters, _ norm: Normalization) -> [Float] {
        var out = [Float]()
        for c in 0..<3 {
            var padded = [[UInt8]](repeating: [UInt8](repeating: 0, count: 40), count: 40)
            for y in 0..<32 { for x in 0..<32 {
                let sx = p.flip ? 31 - x : x
                padded[y + 4][x + 4] = pixels[c * 1024 + y * 32 + sx]
            } }
            for y in 0..<32 { for x in 0..<32 { out.append(norm.value(padded[y + p.dy][x + p.dx], channel: c)) } }
        }
        return out
    }

    @Test("crop and flip match an explicit pad-then-crop reference for every offset and both flips")
    func cropFlip() {
        let rec = handMadeRecord(label: 0, salt: 11)
        let pixels = Array(rec.dropFirst())
        let norm = Normalization.imageNet
        let out = UnsafeMutablePointer<Float>.allocate(capacity: 3072); defer { out.deallocate() }
        pixels.withUnsafeBufferPointer { src in
            norm.withTable { table in
                for flip in [false, true] { for dy in 0...8 { for dx in 0...8 {
                    let p = Augmentation.Parameters(flip: flip, dy: dy, dx: dx)
                    Augmentation.apply(p, source: src.baseAddress!, table: table, destination: out)
                    #expect(Array(UnsafeBufferPointer(start: out, count: 3072)) == reference(pixels, p, norm))
                } } }
            }
        }
        // Identity parameters reproduce the plain normalised image; a flip mirrors a known pixel.
        let d = CIFAR10Dataset(name: "hand", labels: [0], pixels: pixels)
        let plain = Tensor(shape: [1])
        d.fillBatch(indices: [0], into: plain, normalization: norm)
        #expect(reference(pixels, .identity, norm) == plain.array)
        let flipped = reference(pixels, .init(flip: true, dy: 4, dx: 4), norm)
        #expect(flipped[5 * 32 + 0] == plain[0, 0, 5, 31])
        // Shift right by 4 (dx = 0): the first 4 columns are padding = normalised black.
        let shifted = reference(pixels, .init(flip: false, dy: 4, dx: 0), norm)
        #expect(shifted[0] == norm.value(0, channel: 0) && shifted[4] == plain[0, 0, 0, 0])
    }

    @Test("draws are deterministic per (seed, epoch, index), vary with them, and cover all offsets and both flips")
    func deterministic() {
        let a = Augmentation(seed: 7), b = Augmentation(seed: 7), c = Augmentation(seed: 8)
        let pa = (0..<500).map { a.parameters(epoch: 0, index: $0) }
        #expect(pa == (0..<500).map { b.parameters(epoch: 0, index: $0) })
        #expect(pa != (0..<500).map { c.parameters(epoch: 0, index: $0) })
        #expect(pa != (0..<500).map { a.parameters(epoch: 1, index: $0) })
        #expect(Set(pa.map(\.dy)) == Set(0...8) && Set(pa.map(\.dx)) == Set(0...8))
        let flips = pa.filter(\.flip).count
        #expect(flips > 200 && flips < 300)
    }

    @Test("augmented batches depend on the global index, not on the batch or the shard")
    func shardInvariant() {
        var pixels: [UInt8] = []
        for i in 0..<6 { pixels += handMadeRecord(label: 0, salt: 13 * i).dropFirst() }
        let full = CIFAR10Dataset(name: "h", labels: [Int](repeating: 0, count: 6), pixels: pixels)
        let shard = full.subset(3..<6)
        let aug = Augmentation(seed: 3)
        let x = Tensor(shape: [1]), y = Tensor(shape: [1])
        full.fillBatch(indices: [4, 1], into: x, normalization: .cifar10, augmentation: aug, epoch: 2)
        shard.fillBatch(indices: [1], into: y, normalization: .cifar10, augmentation: aug, epoch: 2)
        #expect(Array(x.array[0..<3072]) == y.array)
    }
}

@Suite("Sampling")
struct SamplingTests {
    @Test("calibration indices are distinct, deterministic per seed, and disjoint from validation")
    func calibration() throws {
        let s = CalibrationSampler(total: 4660, seed: 1)
        let cal = try s.calibrationIndices(256)
        #expect(Set(cal).count == 256 && cal.allSatisfy { (0..<4660).contains($0) })
        #expect(try CalibrationSampler(total: 4660, seed: 1).calibrationIndices(256) == cal)
        #expect(try CalibrationSampler(total: 4660, seed: 2).calibrationIndices(256) != cal)
        let val = try s.validationIndices(500, afterCalibration: 256)
        #expect(Set(val).count == 500)
        #expect(Set(val).isDisjoint(with: cal))
        // Asking for more than the split holds is an error.
        expectDataError(["4661", "4660"]) { _ = try s.calibrationIndices(4661) }
        expectDataError(["exceed"]) { _ = try s.validationIndices(4500, afterCalibration: 256) }
    }

    @Test("shard ranges partition the records in rank order with sizes differing by at most one")
    func shards() {
        for count in [0, 1, 7, 932, 10000] {
            for size in 1...7 {
                let ranges = (0..<size).map { Sharding.range(count: count, rank: $0, size: size) }
                #expect(ranges.first!.lowerBound == 0 && ranges.last!.upperBound == count)
                for r in 1..<size { #expect(ranges[r].lowerBound == ranges[r - 1].upperBound) }
                let sizes = ranges.map(\.count)
                #expect(sizes.max()! - sizes.min()! <= 1)
            }
        }
    }

    @Test("batch iterator: each epoch is a permutation, reshuffled per epoch, resumable from its position")
    func batchIterator() {
        var it = BatchIterator(count: 10, batchSize: 4, seed: 5)
        let epoch0 = (0..<3).flatMap { _ in it.next() }
        #expect(epoch0.sorted() == Array(0..<10))
        #expect(it.position == .init(epoch: 0, cursor: 10))
        let first1 = it.next()
        #expect(it.epoch == 1 && first1.count == 4)
        let saved = it.position
        let rest = (0..<4).map { _ in it.next() }
        var resumed = BatchIterator(count: 10, batchSize: 4, seed: 5, position: saved)
        #expect((0..<4).map { _ in resumed.next() } == rest)
        var again = BatchIterator(count: 10, batchSize: 4, seed: 5)
        _ = (0..<3).map { _ in again.next() }
        let epoch1 = [again.next(), again.next(), again.next()].flatMap { $0 }
        #expect(epoch1.sorted() == Array(0..<10) && epoch1 != epoch0)
        var drop = BatchIterator(count: 10, batchSize: 4, seed: 5, dropLast: true)
        #expect((0..<6).map { _ in drop.next().count } == [4, 4, 4, 4, 4, 4])
        var plain = BatchIterator(count: 5, batchSize: 2, seed: 0, shuffle: false)
        #expect((0..<4).map { _ in plain.next() } == [[0, 1], [2, 3], [4], [0, 1]])
    }
}
