import Foundation
import Testing
import DQSSData
import DQSSHDF5
import DQSSShards
import DQSSTensor

/// What one shard file holds, read straight through the HDF5 wrapper (not through the dataset reader).
struct ShardContents {
    var labels: [Int64], sources: [String], images: [UInt8], shape: [Int], index: Int64, count: Int64, classes: [String]
    init(_ url: URL) throws {
        let f = try HDF5File.open(url)
        let root = try f.root()
        labels = try root.read("labels", type: "int64").int64Values!
        sources = try root.readStrings("sources")
        let rows = try root.byteRows("images")
        shape = rows.shape
        images = try rows.read(rows: 0..<rows.rowCount)
        index = try root.int64Attribute("shard_index")
        count = try root.int64Attribute("shard_count")
        classes = try root.readStrings("classes")
    }
}

func pack(_ folder: TestFolder, into out: URL, shards: Int, seed: UInt64 = 7, skipBad: Bool = false) throws -> ShardPacker.Report {
    var options = ShardPacker.Options(shards: shards)
    options.resize = TestFolder.resize; options.crop = TestFolder.crop; options.seed = seed; options.skipBad = skipBad
    return try ShardPacker.pack(try ImageFolder(root: folder.root), to: out, options: options)
}

@Suite("Packing an image folder into shards")
struct ShardPackerTests {
    @Test("2 and 3 shards: sizes equal ±1, every image exactly once with its class label, classes sorted, non-images counted",
          arguments: [2, 3])
    func partition(shards: Int) throws {
        let dir = TemporaryDirectory()
        let folder = try TestFolder(in: dir.url)
        let out = dir.file("shards")
        let report = try pack(folder, into: out, shards: shards)
        #expect(report.classes == ["bird", "cat", "dog"])
        #expect(report.ignoredFiles == 2)
        #expect(report.skipped.isEmpty)
        #expect(report.shardSizes == (shards == 2 ? [8, 7] : [5, 5, 5]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
                == (0..<shards).map { String(format: "shard-%05d-of-%05d.h5", $0, shards) })
        var seen: [String] = []
        var labelsSeen = Set<Int64>()
        for (s, url) in report.files.enumerated() {
            let c = try ShardContents(url)
            #expect(c.index == Int64(s) && c.count == Int64(shards) && c.classes == TestFolder.classes)
            #expect(c.shape == [report.shardSizes[s], 16, 16, 3])
            for (source, label) in zip(c.sources, c.labels) {
                #expect(TestFolder.classes[Int(label)] == String(source.split(separator: "/")[0]), "\(source) labelled \(label)")
                labelsSeen.insert(label)
            }
            seen += c.sources
        }
        #expect(seen.sorted() == folder.generated.keys.sorted())   // each image once, nothing else
        #expect(labelsSeen == [0, 1, 2])
    }

    @Test("stored pixels: a crop of the generated pixels where no resize is needed, the decoder's preprocessed bytes elsewhere")
    func pixels() throws {
        let dir = TemporaryDirectory()
        let folder = try TestFolder(in: dir.url)
        let report = try pack(folder, into: dir.file("shards"), shards: 3)
        var checkedPlainCrops = 0
        for url in report.files {
            let c = try ShardContents(url)
            for (i, source) in c.sources.enumerated() {
                let stored = Array(c.images[(i * 768)..<((i + 1) * 768)])
                if source.hasSuffix("k0.png") {
                    // 24 x 30 RGB PNG, shorter side already 24: crop offsets top round(7) = 7, left round(4) = 4.
                    let g = folder.generated[source]!
                    var expected: [UInt8] = []
                    for y in 0..<16 { for x in 0..<16 { for ch in 0..<3 { expected.append(g.pixels[((y + 7) * 24 + x + 4) * 3 + ch]) } } }
                    #expect(stored == expected, "\(source)")
                    checkedPlainCrops += 1
                } else {
                    let decoded = try PNGImage(imageContentsOf: folder.root.appendingPathComponent(source))
                    #expect(stored == decoded.preprocessed(resize: 24, crop: 16).pixels, "\(source)")
                }
            }
        }
        #expect(checkedPlainCrops == 3)
    }

    @Test("the same folder and seed give the same shards; another seed another order")
    func deterministic() throws {
        let dir = TemporaryDirectory()
        let folder = try TestFolder(in: dir.url)
        let a = try pack(folder, into: dir.file("a"), shards: 2, seed: 1)
        let b = try pack(folder, into: dir.file("b"), shards: 2, seed: 1)
        let c = try pack(folder, into: dir.file("c"), shards: 2, seed: 2)
        let sources = { (r: ShardPacker.Report) in try r.files.flatMap { try ShardContents($0).sources } }
        #expect(try sources(a) == sources(b))
        #expect(try sources(a) != sources(c))
        #expect(try ShardContents(a.files[1]).images == ShardContents(b.files[1]).images)
    }

    @Test("a corrupt JPEG stops packing with an error naming it and leaves no shard or temporary file; --skip-bad lists it")
    func corruptImage() throws {
        let dir = TemporaryDirectory()
        let folder = try TestFolder(in: dir.url)
        let bad = folder.root.appendingPathComponent("dog/k2.jpg")
        let bytes = try Data(contentsOf: bad)
        try bytes.prefix(bytes.count / 3).write(to: bad)
        // A seed that puts the bad image in the last shard, so earlier shards were complete when it failed.
        let items = try ImageFolder(root: folder.root).items
        let position = { (seed: UInt64) -> Int in
            var rng = RNG(seed: seed)
            return rng.permutation(items.count).firstIndex { items[$0].path == "dog/k2.jpg" }!
        }
        let seed = try #require((0..<200).map(UInt64.init).first { position($0) >= 10 })
        let out = dir.file("shards")
        do {
            _ = try pack(folder, into: out, shards: 3, seed: seed)
            Issue.record("packing succeeded")
        } catch {
            #expect("\(error)".contains(bad.path), "\(error)")
            #expect("\(error)".contains("--skip-bad"), "\(error)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path) == [])
        let report = try pack(folder, into: out, shards: 3, seed: seed, skipBad: true)
        #expect(report.skipped.count == 1 && report.skipped[0].contains(bad.path))
        #expect(report.shardSizes == [5, 5, 4])
        #expect(try report.files.flatMap { try ShardContents($0).sources }.contains("dog/k2.jpg") == false)
    }

    @Test("refused: more shards than images, crop above size, an output directory already holding shards")
    func refusals() throws {
        let dir = TemporaryDirectory()
        let folder = try TestFolder(in: dir.url)
        #expect(throws: ShardError.self) { try pack(folder, into: dir.file("a"), shards: 16) }
        var options = ShardPacker.Options(shards: 2)
        options.resize = 16; options.crop = 24
        #expect(throws: ShardError.self) { try ShardPacker.pack(try ImageFolder(root: folder.root), to: dir.file("b"), options: options) }
        _ = try pack(folder, into: dir.file("c"), shards: 2)
        do { _ = try pack(folder, into: dir.file("c"), shards: 3); Issue.record("packed over existing shards") } catch {
            #expect("\(error)".contains("shard-00000-of-00002.h5") && "\(error)".contains("already holds shards"), "\(error)")
        }
    }
}
