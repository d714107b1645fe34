import Foundation

/// A fresh directory under the system temporary folder, removed when the value is dropped.
public final class TemporaryDirectory {
    public let url: URL
    public init(_ label: String = "dqss-checkpoint-tests") {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString)", isDirectory: true)
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    deinit { try? FileManager.default.removeItem(at: url) }
}
