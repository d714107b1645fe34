// Where the shared real data lives for tests: <package root>/../shared/datasets, if present.
import Foundation

enum SharedData {
    /// Package root, found from this file's path (Tests/DQSSDataTests/SharedData.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let root = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/datasets")

    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }
    static func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: url(relative).path) }

    static let resnet20 = "models/cifar10/akamaster_resnet20.safetensors"
    static let cifar = "cifar10"
}

/// A fresh temporary directory, removed by the caller with `cleanup()`.
struct TempDir {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-data-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    func cleanup() { try? FileManager.default.removeItem(at: url) }
}
