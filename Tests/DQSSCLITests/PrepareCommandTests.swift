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

/// Hostile and damaged inputs of the shard path (issue 16, items 4 and 5).
@Suite("dqss prepare and shards: hostile and damaged files",
       .enabled(if: FileManager.default.isExecutableFile(atPath: dqssExecutable.path), "skipped: the built dqss executable not found"))
struct ShardFaultTests {
    /// A valid 68-byte PNG whose header declares `width` x `height` RGB pixels (its data is a few zero rows).
    static func declaringPNG(width: UInt32, height: UInt32) -> Data {
        func crc32(_ bytes: [UInt8]) -> UInt32 {
            var c: UInt32 = 0xFFFF_FFFF
            for b in bytes {
                c ^= UInt32(b)
                for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            }
            return ~c
        }
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
        func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
            let t = Array(type.utf8)
            return be(UInt32(body.count)) + t + body + be(crc32(t + body))
        }
        // zlib stream of 10 zero bytes (stored block), enough for libpng to start reading.
        let idat: [UInt8] = [0x78, 0x01, 0x01, 0x0A, 0x00, 0xF5, 0xFF] + [UInt8](repeating: 0, count: 10) + [0x00, 0x0A, 0x00, 0x01]
        let bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + chunk("IHDR", be(width) + be(height) + [8, 2, 0, 0, 0]) + chunk("IDAT", idat) + chunk("IEND", [])
        return Data(bytes)
    }

    @Test("a tiny PNG declaring 60000x60000 is refused from its header (no 10.8 GB allocation): --skip-bad lists it, no .tmp shard is left; --max-megapixels sets the limit")
    func hugeDeclaredImage() throws {
        let root = try PrepareCommandTests.makeFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let huge = root.appendingPathComponent("images/ants/huge.png")
        try Self.declaringPNG(width: 60000, height: 60000).write(to: huge)
        let out = root.appendingPathComponent("o")
        let (status, stdout, stderr) = try runDQSS(["prepare", "--input", root.appendingPathComponent("images").path,
                                                    "--out", out.path, "--shards", "2", "--size", "20", "--crop", "16",
                                                    "--skip-bad", "--json", "--quiet"])
        #expect(status == 0, "\(stderr)")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        #expect(o["images"] as? Int == 6)
        let skipped = (o["skipped"] as? [String]) ?? []
        #expect(skipped.count == 1 && skipped[0].contains(huge.path) && skipped[0].contains("60000x60000")
                && skipped[0].contains("more than the limit"), "\(skipped)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
                == ["shard-00000-of-00002.h5", "shard-00001-of-00002.h5"])
        // Without --skip-bad the command stops naming the file; a lower limit refuses ordinary images too.
        let (s2, _, e2) = try runDQSS(["prepare", "--input", root.appendingPathComponent("images").path,
                                       "--out", root.appendingPathComponent("p").path, "--shards", "2", "--size", "20",
                                       "--crop", "16", "--quiet"])
        #expect(s2 == 1 && e2.contains(huge.path), "\(e2)")
        try FileManager.default.removeItem(at: huge)
        let (s3, _, e3) = try runDQSS(["prepare", "--input", root.appendingPathComponent("images").path,
                                       "--out", root.appendingPathComponent("q").path, "--shards", "2", "--size", "20",
                                       "--crop", "16", "--max-megapixels", "0.0005", "--quiet"])
        #expect(s3 == 1 && e3.contains("more than the limit of 500"), "\(e3)")
        let (s4, _, e4) = try runDQSS(["prepare", "--input", root.appendingPathComponent("images").path,
                                       "--out", root.appendingPathComponent("r").path, "--shards", "2", "--max-megapixels", "nan"])
        #expect(s4 != 0 && e4.contains("--max-megapixels"), "\(e4)")
    }

    @Test("a shard with damaged image bytes stops a QAT run with exit 1 and a message naming the shard and the checksum, not a trap")
    func damagedShard() throws {
        let root = try PrepareCommandTests.makeFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let images = root.appendingPathComponent("images").path
        let data = root.appendingPathComponent("data")
        for split in ["train", "val"] {
            let (s, _, e) = try runDQSS(["prepare", "--input", images, "--out", data.appendingPathComponent(split).path,
                                         "--shards", "1", "--size", "32", "--crop", "32", "--quiet"])
            #expect(s == 0, "\(e)")
        }
        // The pixel rows are the bulk of the file (6 x 3072 bytes, Fletcher-32 per row): its middle is image data.
        let shard = data.appendingPathComponent("train/shard-00000-of-00001.h5")
        var bytes = try Data(contentsOf: shard)
        for i in (bytes.count / 2)..<(bytes.count / 2 + 16) { bytes[i] ^= 0x5A }
        try bytes.write(to: shard)
        let (status, stdout, stderr) = try runDQSS(["qat", "--method", "lsq", "--model", "resnet20", "--data", data.path,
                                                    "--train-split", "train", "--split", "val", "--epochs", "1",
                                                    "--warmup-epochs", "1", "--batch", "3", "--eval-every", "0", "--json", "--quiet"])
        #expect(status == 1, "exit \(status): \(stderr)")
        #expect(stdout.isEmpty)
        #expect(stderr.contains(shard.path) && stderr.contains("checksum"), "\(stderr)")
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

        // The same shards feed eval, ptq and search --mode ptq (issue 19: they refused what qat accepts).
        // They need pretrained weights: ../shared's ResNet-20 when it is there.
        guard FileManager.default.fileExists(atPath: sharedWeights("akamaster_resnet20")) else { return }
        for command in [["eval"], ["ptq", "--method", "maxabs", "--calib", "4", "--calib-split", "train"],
                        ["search", "--mode", "ptq", "--calib", "4", "--val-images", "2", "--calib-split", "train",
                         "--search-epochs", "1", "--eq-images", "2"]] {
            let (s3, out3, e3) = try runDQSS(command + ["--model", "resnet20", "--data", data.path, "--split", "val",
                                                        "--weights", sharedWeights("akamaster_resnet20"), "--json", "--quiet"])
            #expect(s3 == 0, "\(command[0]): \(e3)")
            let o3 = try #require(try JSONSerialization.jsonObject(with: Data(out3.utf8)) as? [String: Any], "\(command[0])")
            #expect(!o3.isEmpty)
        }
        let (s4, _, e4) = try runDQSS(["eval", "--model", "resnet20", "--data", small.path, "--split", "train",
                                       "--weights", sharedWeights("akamaster_resnet20")])
        #expect(s4 != 0 && e4.contains("[3, 16, 16]") && e4.contains("--size 32 --crop 32"), "\(e4)")
    }
}
