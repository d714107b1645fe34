// AtomicFile: replace a file so that readers see either the old content or the whole new content, never
// a prefix: write a temporary file in the same directory, fsync it, rename it onto the target (atomic
// within a directory), fsync the directory. A failure at any point (disk full, no permission) removes the
// temporary file and leaves the target as it was. Used for checkpoints and every JSON document
// (JSONCoding.swift).

import Foundation

public struct AtomicFileError: Error, CustomStringConvertible, Equatable {
    /// The file (or directory) the failure is about.
    public var path: String
    public var message: String
    public init(path: String, _ message: String) { self.path = path; self.message = message }
    public var description: String { "\(path): \(message)" }
}

public enum AtomicFile {
    static func errnoText() -> String { String(cString: strerror(errno)) }

    /// Write `bytes` to `url` through `.<name>.<random>.tmp` in the same directory and a rename.
    public static func write(_ bytes: [UInt8], to url: URL) throws {
        let tmp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UInt32.random(in: 0...UInt32.max)).tmp")
        do {
            try writeNew(bytes, to: tmp)
            guard rename(tmp.path, url.path) == 0 else {
                throw AtomicFileError(path: url.path, "rename from \(tmp.lastPathComponent) failed: \(errnoText())")
            }
        } catch {
            unlink(tmp.path)
            throw error
        }
        try? fsync(url.deletingLastPathComponent())
    }

    public static func write(_ data: Data, to url: URL) throws { try write([UInt8](data), to: url) }

    /// Create `path` (it must not exist), write all of `bytes`, fsync and close it; on failure the
    /// descriptor is closed and the partial file removed. Every error names the file and errno's text.
    public static func writeNew(_ bytes: [UInt8], to url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AtomicFileError(path: url.path, "cannot create: \(errnoText())") }
        var closed = false
        do {
            try bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw AtomicFileError(path: url.path, "write failed after \(offset) of \(buffer.count) bytes: \(errnoText())")
                    }
                    if n == 0 { throw AtomicFileError(path: url.path, "write made no progress after \(offset) of \(buffer.count) bytes") }
                    offset += n
                }
            }
            guard Foundation.fsync(fd) == 0 else { throw AtomicFileError(path: url.path, "fsync failed: \(errnoText())") }
            closed = true
            guard close(fd) == 0 else { throw AtomicFileError(path: url.path, "close failed: \(errnoText())") }
        } catch {
            if !closed { close(fd) }
            unlink(url.path)
            throw error
        }
    }

    /// fsync a file or directory by path.
    public static func fsync(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AtomicFileError(path: url.path, "open for fsync failed: \(errnoText())") }
        defer { close(fd) }
        guard Foundation.fsync(fd) == 0 else { throw AtomicFileError(path: url.path, "fsync failed: \(errnoText())") }
    }

    /// Create `directory` (and its parents) if needed and check that files can be created in it, by
    /// writing and removing a small probe file: an output directory that cannot be written is reported
    /// before a long run, not after it.
    public static func prepareDirectory(_ directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw AtomicFileError(path: directory.path, "cannot create the directory: \(underlyingReason(error))")
        }
        let probe = directory.appendingPathComponent(".dqss-write-probe.\(UInt32.random(in: 0...UInt32.max)).tmp")
        do {
            try writeNew(Array("probe\n".utf8), to: probe)
        } catch let e as AtomicFileError {
            throw AtomicFileError(path: directory.path, "cannot write into the directory: \(e.message)")
        }
        unlink(probe.path)
    }

    /// errno's text for a Foundation file error when it carries one, else its description.
    static func underlyingReason(_ error: Error) -> String {
        let ns = error as NSError
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(u.code)))
        }
        return ns.localizedDescription
    }
}
