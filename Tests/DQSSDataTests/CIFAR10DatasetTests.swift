import Foundation
import Testing
import DQSSData
import DQSSTensor

/// A hand-made record: label, then R/G/B planes where pixel (c, y, x) = (c * 80 + y * 7 + x) % 256.
func handMadeRecord(label: UInt8, salt: Int = 0) -> [UInt8] {
    var r: [UInt8] = [label]
    for c in 0..<3 { for y in 0..<32 { for x in 0..<32 { r.append(UInt8((c * 80 + y * 7 + x + salt) % 256)) } } }
    return r
}

@Suite("CIFAR10Dataset")
struct CIFAR10DatasetTests {
    static let haveCIFAR = SharedData.exists("cifar10/manifest.json")

    @Test("shared test split: 932 lossless records with the documented label histogram",
          .enabled(if: haveCIFAR, "shared datasets absent"))
    func sharedTest() throws {
        let d = try CIFAR10Dataset(directory: SharedData.url(SharedData.cifar), split: "test")
        #expect(d.count == 932)
        #expect(d.labelHistogram == [97, 78, 94, 95, 85, 84, 105, 96, 98, 100])
        #expect(d.labels.prefix(3) == [3, 8, 8])   // BASELINES: test image 0 is a cat
        let m = try CIFAR10Manifest(directory: SharedData.url(SharedData.cifar))
        #expect(m.splitNames == ["test", "test-jpeg", "train"])
        #expect(m.classNames?.first == "airplane" && m.classNames?.count == 10)
    }

    @Test("shared test-jpeg split: 10,000 records, 1000 per class; train: 4,660 records",
          .enabled(if: haveCIFAR, "shared datasets absent"))
    func sharedJPEGAndTrain() throws {
        let j = try CIFAR10Dataset(directory: SharedData.url(SharedData.cifar), split: "test-jpeg")
        #expect(j.count == 10000)
        #expect(j.labelHistogram == [Int](repeating: 1000, count: 10))
        let t = try CIFAR10Dataset(directory: SharedData.url(SharedData.cifar), split: "train")
        #expect(t.count == 4660)
        // Per-file histograms from SOURCES.md: data_batch_1 then data_batch_2 (via a range read).
        let b2 = try CIFAR10Dataset(directory: SharedData.url(SharedData.cifar), split: "train", range: 932..<1864)
        #expect(b2.labelHistogram == [96, 93, 71, 88, 102, 90, 90, 113, 106, 83])
        #expect(b2.firstIndex == 932 && b2.splitCount == 4660)
        #expect(b2.pixels == Array(t.pixels[932 * 3072 ..< 1864 * 3072]))
        // Three ranks' shards concatenate to the whole split.
        let shards = try (0..<3).map { try CIFAR10Dataset(directory: SharedData.url(SharedData.cifar), split: "train", rank: $0, size: 3) }
        #expect(shards.map(\.count) == [1554, 1553, 1553])
        #expect(shards.flatMap(\.labels) == t.labels)
        #expect(shards[2].firstIndex == 3107)
    }

    @Test("unknown split lists the available ones", .enabled(if: haveCIFAR, "shared datasets absent"))
    func unknownSplit() {
        expectDataError(["unknown split \"val\"", "test, test-jpeg, train"]) {
            _ = try CIFAR10Dataset(directory: SharedData.url(SharedData.cifar), split: "val")
        }
    }

    @Test("standard file names without a manifest; range reads across file boundaries")
    func standardNames() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        try Data((handMadeRecord(label: 1) + handMadeRecord(label: 2, salt: 1))).write(to: dir.file("test_batch.bin"))
        try Data(handMadeRecord(label: 3, salt: 2) + handMadeRecord(label: 4, salt: 3)).write(to: dir.file("data_batch_1.bin"))
        try Data(handMadeRecord(label: 5, salt: 4)).write(to: dir.file("data_batch_2.bin"))
        let m = try CIFAR10Manifest(directory: dir.url)
        #expect(!m.fromManifestFile)
        #expect(m.splitNames == ["test", "train"])
        let test = try CIFAR10Dataset(directory: dir.url)
        #expect(test.labels == [1, 2])
        #expect(Array(test.pixels.prefix(3)) == [0, 1, 2])
        let part = try CIFAR10Dataset(directory: dir.url, split: "train", range: 1..<3)
        #expect(part.labels == [4, 5])
        #expect(part.pixels == Array(handMadeRecord(label: 4, salt: 3).dropFirst() + handMadeRecord(label: 5, salt: 4).dropFirst()))
        expectDataError(["record range 2..<4 outside 0..<3"]) { _ = try CIFAR10Dataset(directory: dir.url, split: "train", range: 2..<4) }
    }

    @Test("a file that is not whole records, a bad label byte and a record-count mismatch are errors naming the file")
    func badFiles() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let url = dir.file("test_batch.bin")
        try Data(handMadeRecord(label: 1) + [7, 7]).write(to: url)
        expectDataError([url.path, "not a multiple of the 3073-byte"]) { _ = try CIFAR10Dataset(directory: dir.url) }
        try Data(handMadeRecord(label: 11)).write(to: url)
        expectDataError([url.path, "label 11"]) { _ = try CIFAR10Dataset(directory: dir.url) }
        try Data(handMadeRecord(label: 1)).write(to: url)
        try Data("{\"splits\":{\"test\":{\"files\":[\"test_batch.bin\"],\"records\":2}}}".utf8).write(to: dir.file("manifest.json"))
        expectDataError(["declares 2 records", "hold 1", dir.file("test_batch.bin").path]) { _ = try CIFAR10Dataset(directory: dir.url) }
        try Data("{\"splits\":".utf8).write(to: dir.file("manifest.json"))
        expectDataError([dir.file("manifest.json").path, "not valid JSON"]) { _ = try CIFAR10Dataset(directory: dir.url) }
        expectDataError([dir.file("nowhere").path, "does not exist"]) { _ = try CIFAR10Dataset(directory: dir.file("nowhere")) }
    }

    @Test("manifest with a separate label file and label-less 3072-byte records")
    func separateLabels() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let r0 = handMadeRecord(label: 0, salt: 5), r1 = handMadeRecord(label: 0, salt: 6)
        try Data(r0.dropFirst() + r1.dropFirst()).write(to: dir.file("images.bin"))
        try Data([6, 9, 1]).write(to: dir.file("labels.u8"))
        try Data("""
        {"format":"cifar10-binary","record_bytes":3072,
         "splits":{"mine":{"files":["images.bin"],"labels":"labels.u8","records":2}}}
        """.utf8).write(to: dir.file("manifest.json"))
        let d = try CIFAR10Dataset(directory: dir.url, split: "mine")
        #expect(d.labels == [6, 9])
        #expect(d.pixels == Array(r0.dropFirst() + r1.dropFirst()))
        let second = try CIFAR10Dataset(directory: dir.url, split: "mine", range: 1..<2)
        #expect(second.labels == [9])
        // A label file that disagrees with the records' own label bytes is an error.
        try Data(handMadeRecord(label: 2)).write(to: dir.file("withlabel.bin"))
        try Data("{\"splits\":{\"x\":{\"files\":[\"withlabel.bin\"],\"labels\":\"labels.u8\"}}}".utf8).write(to: dir.file("manifest.json"))
        expectDataError([dir.file("labels.u8").path, "disagrees"]) { _ = try CIFAR10Dataset(directory: dir.url, split: "x") }
    }

    @Test("normalisation of a hand-made record: (byte/255 - mean)/std per channel, NCHW")
    func normalisation() throws {
        let rec = handMadeRecord(label: 7)
        let d = CIFAR10Dataset(name: "hand", labels: [7], pixels: Array(rec.dropFirst()))
        let norm = Normalization(mean: [0.5, 0.25, 0.0], std: [0.5, 0.25, 2.0])
        let batch = Tensor(shape: [1])
        let labels = d.fillBatch(indices: [0], into: batch, normalization: norm)
        #expect(labels == [7])
        #expect(batch.shape == [1, 3, 32, 32])
        for (c, y, x) in [(0, 0, 0), (0, 3, 5), (1, 31, 31), (2, 10, 2)] {
            let byte = Float((c * 80 + y * 7 + x) % 256)
            let expected = (byte / 255 - norm.mean[c]) / norm.std[c]
            #expect(batch[0, c, y, x] == expected)
        }
        #expect(batch[0, 0, 0, 0] == -1)       // byte 0 in channel 0: (0 - 0.5)/0.5
        #expect(batch[0, 2, 0, 0] == (Float(160) / 255) / 2)
    }
}

@Suite("CIFAR10Source")
struct CIFAR10SourceTests {
    @Test("as a LabeledImageSource it fills normalised batches; subset(indices:) picks records in order")
    func source() throws {
        var pixels: [UInt8] = []
        for i in 0..<4 { pixels += handMadeRecord(label: 0, salt: 9 * i).dropFirst() }
        let d = CIFAR10Dataset(name: "h", labels: [3, 1, 4, 1], pixels: pixels)
        let picked = d.subset(indices: [2, 0])
        #expect(picked.labels == [4, 3])
        #expect(picked.pixels == Array(pixels[2 * 3072 ..< 3 * 3072] + pixels[0 ..< 3072]))
        let src: any LabeledImageSource = CIFAR10Source(d, normalization: .imageNet)
        #expect(src.count == 4 && src.classCount == 10 && src.imageShape == [3, 32, 32])
        let x = Tensor(shape: [1]), ref = Tensor(shape: [1])
        #expect(try src.fillBatch([3, 2][...], images: x) == [1, 4])
        d.fillBatch(indices: [3, 2], into: ref, normalization: .imageNet)
        #expect(x.array == ref.array && x.shape == [2, 3, 32, 32])
    }
}
