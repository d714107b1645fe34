import Foundation
import DQSSData

/// A fresh directory under the system temporary folder, removed when the value is dropped.
final class TemporaryDirectory {
    let url: URL
    init(_ label: String = "dqss-shards-tests") {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString)", isDirectory: true)
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A synthetic image with content unique to (class, k): a pattern no other image of the folder has.
func syntheticImage(width: Int, height: Int, channels: Int, label: Int, k: Int) -> PNGImage {
    var px = [UInt8](repeating: 0, count: width * height * channels)
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<channels {
                px[(y * width + x) * channels + c] = UInt8((x * 7 + y * 13 + c * 50 + label * 70 + k * 17) % 256)
            }
        }
    }
    return PNGImage(width: width, height: height, channels: channels, pixels: px)
}

/// The image folder the shard tests pack: classes "bird", "cat", "dog" (sorted: labels 0, 1, 2) with
/// five images each, three PNG (one of them gray) and two JPEG, of different sizes, plus two non-image
/// files. With --size 24 --crop 16, image k == 0 (24 x 30 PNG) needs no resize: its shard bytes are a
/// plain crop of the generated pixels.
struct TestFolder {
    static let classes = ["bird", "cat", "dog"]
    static let resize = 24, crop = 16
    /// (file name, width, height, channels) of image k.
    static let layout: [(String, Int, Int, Int)] = [
        ("k0.png", 24, 30, 3), ("k1.png", 36, 24, 1), ("k2.jpg", 48, 40, 3), ("k3.JPEG", 30, 30, 3), ("k4.png", 50, 26, 3),
    ]
    let root: URL
    /// Generated pixels by relative path ("cat/k0.png").
    var generated: [String: PNGImage] = [:]

    init(in directory: URL) throws {
        root = directory.appendingPathComponent("images")
        // Written in reverse order: the packer must sort, not trust the file system.
        for (label, name) in Self.classes.enumerated().reversed() {
            let dir = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for (k, (file, w, h, c)) in Self.layout.enumerated() {
                let image = syntheticImage(width: w, height: h, channels: c, label: label, k: k)
                let url = dir.appendingPathComponent(file)
                if file.lowercased().hasSuffix("png") { try image.write(to: url) } else { try image.jpegData(quality: 92).write(to: url) }
                generated["\(name)/\(file)"] = image
            }
        }
        try Data("not an image".utf8).write(to: root.appendingPathComponent("cat/notes.txt"))
        try Data("readme".utf8).write(to: root.appendingPathComponent("README"))
    }

    var imageCount: Int { Self.classes.count * Self.layout.count }
}
