import Foundation
import Testing
import DQSSData

/// `dqss prepare` end to end on an image folder generated here (no shared data needed).
@Suite("dqss prepare", .enabled(if: FileManager.default.isExecutableFile(atPath: dqssExecutable.path),
                                "skipped: the built dqss executable not found"))
struct PrepareCommandTests {
    /// Two classes of three images (PNG and JPEG, different sizes) under a fresh temporary directory.
    static func makeFolder() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-prepare-\(UUID().uuidString)")
        for (label, name) in ["ants", "bees"].enumerated() {
            let dir = root.appendingPathComponent("images/\(name)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for k in 0..<3 {
                let (w, h) = (20 + 9 * k, 28 - 3 * k)
                let px = (0..<(w * h * 3)).map { UInt8(($0 * (3 + k) + label * 90) % 256) }
                let image = PNGImage(width: w, height: h, channels: 3, pixels: px)
                if k == 1 { try image.jpegData().write(to: dir.appendingPathComponent("\(k).jpg")) }
                else { try image.write(to: dir.appendingPathComponent("\(k).png")) }
            }
        }
        return root
    }

    @Test("--json prints one object: shards, images per shard, classes, seconds; progress with images/s on stderr")
    func json() throws {
        let root = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("shards").path
        let (status, stdout, stderr) = try runDQSS(["prepare", "--input", root.appendingPathComponent("images").path,
                                                    "--out", out, "--shards", "2", "--size", "20", "--crop", "16", "--json"])
        #expect(status == 0, "\(stderr)")
        #expect(stdout.split(separator: "\n").count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        #expect(object["shards"] as? Int == 2)
        #expect(object["images_per_shard"] as? [Int] == [3, 3])
        #expect(object["images"] as? Int == 6)
        #expect(object["classes"] as? [String] == ["ants", "bees"])
        #expect(object["files"] as? [String] == ["shard-00000-of-00002.h5", "shard-00001-of-00002.h5"])
        #expect((object["seconds"] as? Double).map { $0 >= 0 } == true)
        #expect(stderr.contains("6/6 images") && stderr.contains("images/s") && stderr.contains("ETA"), "\(stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == object["files"] as? [String])
    }

    @Test("a corrupt image fails the command naming the file, nothing on stdout; --size below --crop is refused")
    func failures() throws {
        let root = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let bad = root.appendingPathComponent("images/bees/1.jpg")
        try Data([0xFF, 0xD8, 0xFF, 0xDB, 0x00]).write(to: bad)
        let images = root.appendingPathComponent("images").path
        let (status, stdout, stderr) = try runDQSS(["prepare", "--input", images, "--out", root.appendingPathComponent("o").path,
                                                    "--shards", "2", "--size", "20", "--crop", "16", "--json", "--quiet"])
        #expect(status != 0)
        #expect(stdout.isEmpty)
        #expect(stderr.contains(bad.path), "\(stderr)")
        let (s2, _, e2) = try runDQSS(["prepare", "--input", images, "--out", root.appendingPathComponent("p").path,
                                       "--shards", "2", "--size", "16", "--crop", "20"])
        #expect(s2 != 0 && e2.contains("--size 16 must be at least --crop 20"), "\(e2)")
    }
}

/// `dqss qat` reading `dqss prepare` shards instead of CIFAR-10 records (the ImageNet-scale path), on a
/// generated folder packed at 32x32 so that a CIFAR ResNet can train on it without any shared data.
@Suite("dqss qat on prepared shards", .enabled(if: FileManager.default.isExecutableFile(atPath: dqssExecutable.path),
                                               "skipped: the built dqss executable not found"))
struct QATOnShardsTests {
    @Test("train and evaluation splits packed with dqss prepare feed a QAT run; wrong image size is refused naming the shards")
    func qatOnShards() throws {
        let root = try PrepareCommandTests.makeFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let images = root.appendingPathComponent("images").path
        let data = root.appendingPathComponent("data")
        for (split, shards) in [("train", "2"), ("val", "1")] {
            let (s, _, e) = try runDQSS(["prepare", "--input", images, "--out", data.appendingPathComponent(split).path,
                                         "--shards", shards, "--size", "32", "--crop", "32", "--quiet"])
            #expect(s == 0, "\(e)")
        }
        let (status, out, err) = try runDQSS(["qat", "--method", "lsq", "--model", "resnet20", "--data", data.path,
                                              "--train-split", "train", "--split", "val", "--epochs", "1", "--warmup-epochs", "1",
                                              "--batch", "3", "--eval-every", "0", "--json"])
        #expect(status == 0, "\(err)")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        #expect(o["train_images"] as? Int == 6 && o["test_images"] as? Int == 6)
        let top1 = try #require(o["top1"] as? Double)
        #expect(top1 >= 0 && top1 <= 100)
        #expect(err.contains("2 shard file(s) on this rank"), "\(err)")

        let small = root.appendingPathComponent("small")
        _ = try runDQSS(["prepare", "--input", images, "--out", small.appendingPathComponent("train").path, "--shards", "1",
                         "--size", "20", "--crop", "16", "--quiet"])
        let (s2, _, e2) = try runDQSS(["qat", "--method", "lsq", "--model", "resnet20", "--data", small.path, "--epochs", "1",
                                       "--batch", "3"])
        #expect(s2 != 0 && e2.contains("[3, 32, 32]") && e2.contains(small.path), "\(e2)")
    }
}
