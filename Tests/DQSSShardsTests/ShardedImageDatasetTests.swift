import Foundation
import Testing
import DQSSData
import DQSSShards
import DQSSTensor

@Suite("Reading shards by rank")
struct ShardedImageDatasetTests {
    @Test("rank r of s reads exactly its shards (contiguous), counts need no other rank's files")
    func ranks() throws {
        let dir = TemporaryDirectory()
        let folder = try TestFolder(in: dir.url)
        let out = dir.file("shards")
        let report = try pack(folder, into: out, shards: 3)
        let perShard = try report.files.map { try ShardContents($0) }
        for (size, expected) in [(1, [0..<3]), (2, [0..<2, 2..<3]), (3, [0..<1, 1..<2, 2..<3])] {
            for rank in 0..<size {
                let d = try ShardedImageDataset(directory: out, rank: rank, worldSize: size)
                #expect(d.shardIndices == expected[rank])
                #expect(d.count == 15 && d.classes == TestFolder.classes && d.imageShape == [3, 16, 16])
                let mine = expected[rank].map { perShard[$0] }
                #expect(try d.localSources() == mine.flatMap(\.sources))
                #expect(d.labels == mine.flatMap(\.labels).map { Int($0) })
                #expect(try d.rawImages(0..<d.localCount) == mine.flatMap(\.images))
                #expect(d.imagesPerRank == (size == 2 ? 5 : 15 / size))
            }
        }
        // Another rank's shard is never opened: damaging shard 2 leaves rank 0 of 2 unaffected.
        try Data("garbage".utf8).write(to: report.files[2])
        #expect(try ShardedImageDataset(directory: out, rank: 0, worldSize: 2).localCount == 10)
        do { _ = try ShardedImageDataset(directory: out, rank: 1, worldSize: 2); Issue.record("opened a damaged shard") } catch {
            #expect("\(error)".contains(report.files[2].path), "\(error)")
        }
    }

    @Test("batches are [B, 3, C, C] with each byte normalised per channel, labels in index order, any index order")
    func batches() throws {
        let dir = TemporaryDirectory()
        let folder = try TestFolder(in: dir.url)
        let out = dir.file("shards")
        _ = try pack(folder, into: out, shards: 2)
        let d = try ShardedImageDataset(directory: out)
        let raw = try d.rawImages(0..<d.localCount)
        let batch = Tensor(shape: [0])
        let indices = [14, 3, 4, 5, 0, 9]   // crosses the shard boundary at 8 and runs of consecutive rows
        let labels = try d.fillBatch(indices: indices, into: batch, normalization: .imageNet)
        #expect(batch.shape == [6, 3, 16, 16])
        #expect(labels == indices.map { d.labels[$0] })
        let norm = Normalization.imageNet
        for (b, i) in indices.enumerated() {
            for c in 0..<3 {
                for p in 0..<256 {
                    let expected = norm.value(raw[i * 768 + 3 * p + c], channel: c)
                    if batch.data[(b * 3 + c) * 256 + p] != expected { Issue.record("image \(i) channel \(c) pixel \(p)"); return }
                }
            }
        }
    }

    @Test("a missing shard is refused naming it; two sets in one directory and too few shards for the ranks are refused")
    func refusals() throws {
        let dir = TemporaryDirectory()
        let folder = try TestFolder(in: dir.url)
        let three = dir.file("three"), two = dir.file("two")
        let r3 = try pack(folder, into: three, shards: 3)
        let r2 = try pack(folder, into: two, shards: 2)
        do { _ = try ShardedImageDataset(directory: three, rank: 0, worldSize: 4); Issue.record("4 ranks on 3 shards") } catch {
            #expect("\(error)".contains("3 shards cannot be spread over 4 ranks"), "\(error)")
        }
        try FileManager.default.copyItem(at: r2.files[0], to: three.appendingPathComponent(r2.files[0].lastPathComponent))
        do { _ = try ShardedImageDataset(directory: three); Issue.record("mixed sets") } catch {
            #expect("\(error)".contains("two sets"), "\(error)")
        }
        try FileManager.default.removeItem(at: three.appendingPathComponent(r2.files[0].lastPathComponent))
        try FileManager.default.removeItem(at: r3.files[1])
        do { _ = try ShardedImageDataset(directory: three, rank: 0, worldSize: 1); Issue.record("opened an incomplete set") } catch {
            #expect("\(error)".contains(r3.files[1].path) && "\(error)".contains("missing"), "\(error)")
        }
        // A shard of another packing renamed into the gap is caught by the shards a rank reads together.
        try FileManager.default.copyItem(at: r2.files[1], to: r3.files[1])
        do { _ = try ShardedImageDataset(directory: three, rank: 0, worldSize: 1); Issue.record("opened a foreign shard") } catch {
            #expect("\(error)".contains(r3.files[1].path), "\(error)")
        }
        do { _ = try ShardedImageDataset(directory: dir.url); Issue.record("no shards") } catch {
            #expect("\(error)".contains("no shard files"), "\(error)")
        }
    }
}
