// ImageFolder: the torchvision ImageFolder layout, `root/<class>/**/<image>`.
//
// Classes are the sorted names of root's sub-folders (hidden ones skipped); labels are their indices.
// Inside a class folder every file with a .jpg, .jpeg or .png name (any case) is an image, found
// recursively; the list is sorted by relative path, so the same folder always gives the same order.
// Other files (and files directly in root) are not images: counted, never read.

import Foundation

public struct ImageFolder: Sendable {
    public struct Item: Sendable, Equatable {
        /// Path relative to the root, "<class>/<...>/<file>".
        public var path: String
        public var label: Int
    }

    public let root: URL
    public let classes: [String]
    /// Every image, sorted by path.
    public let items: [Item]
    /// Files that are not images by their name (ignored).
    public let ignoredFiles: Int

    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

    public init(root: URL) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: root.path, isDirectory: &isDir), isDir.boolValue else {
            throw ShardError("\(root.path): no such directory (--input expects class sub-folders of images)")
        }
        let entries: [String]
        do { entries = try fm.contentsOfDirectory(atPath: root.path) } catch {
            throw ShardError("\(root.path): cannot list (\(error.localizedDescription))")
        }
        var classes: [String] = []
        var ignored = 0
        for name in entries.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) where !name.hasPrefix(".") {
            var d: ObjCBool = false
            _ = fm.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &d)
            if d.boolValue { classes.append(name) } else { ignored += 1 }
        }
        guard !classes.isEmpty else {
            throw ShardError("\(root.path): no class sub-folders (expected <class>/<image>.jpg|png)")
        }
        var items: [Item] = []
        for (label, name) in classes.enumerated() {
            let dir = root.appendingPathComponent(name)
            guard let walker = fm.enumerator(atPath: dir.path) else {
                throw ShardError("\(dir.path): cannot list")
            }
            var found = 0
            while let rel = walker.nextObject() as? String {
                let url = dir.appendingPathComponent(rel)
                var d: ObjCBool = false
                guard fm.fileExists(atPath: url.path, isDirectory: &d), !d.boolValue else { continue }
                if Self.imageExtensions.contains(url.pathExtension.lowercased()) && !url.lastPathComponent.hasPrefix(".") {
                    items.append(Item(path: name + "/" + rel, label: label))
                    found += 1
                } else {
                    ignored += 1
                }
            }
            if found == 0 { throw ShardError("\(dir.path): class folder holds no .jpg/.jpeg/.png files") }
        }
        items.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        self.root = root
        self.classes = classes
        self.items = items
        self.ignoredFiles = ignored
    }
}
