// CheckpointSeal: the whole-file digest of a checkpoint, checked before HDF5 is allowed to parse a byte.
//
// A checkpoint file starts with a 512-byte HDF5 user block (HDF5 finds its superblock after it, so
// h5py, h5dump and older dqss still read the file). After the HDF5 file is complete, dqss fills it with:
//
//     offset  size
//          0     8   magic "DQSSCKPT"
//          8     4   seal version, UInt32 little-endian (1)
//         12     4   user block size, UInt32 LE (512)
//         16     8   payload length: bytes after the user block, UInt64 LE
//         24    32   SHA-256 of those payload bytes
//         56   456   zeros
//
// `verify` refuses a file whose header is damaged, whose length differs (truncated, appended to) or whose
// digest differs, so damage anywhere — metadata, a variable-length string heap, a weight, the history
// JSON — is one clear error naming the file, and HDF5 never follows a pointer or length it has not been
// vouched for. Files that start with HDF5's own signature instead (written by dqss before the seal) are
// `.legacy`: readable, but with nothing to check them against.

import Foundation

public enum CheckpointSeal {
    public static let userBlockSize = 512
    static let magic = Array("DQSSCKPT".utf8)
    static let sealVersion: UInt32 = 1
    /// The first 8 bytes of an HDF5 superblock.
    static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    public enum Status: Sendable, Equatable {
        /// The header is intact and the SHA-256 (hex) of the payload matches.
        case sealed(sha256: String)
        /// A plain HDF5 file without the dqss header (older dqss): nothing to verify it against.
        case legacy
    }

    /// Fill the user block of `image`, an HDF5 file image created with a `userBlockSize` user block.
    static func seal(_ image: inout [UInt8]) {
        precondition(image.count > userBlockSize && image[userBlockSize..<(userBlockSize + 8)].elementsEqual(hdf5Signature),
                     "CheckpointSeal: the image has no HDF5 superblock after a \(userBlockSize)-byte user block")
        let digest = image.withUnsafeBytes { b -> [UInt8] in
            var s = SHA256()
            s.update(UnsafeRawBufferPointer(rebasing: b[userBlockSize...]))
            return s.finalize()
        }
        image.replaceSubrange(0..<userBlockSize, with: header(payloadLength: UInt64(image.count - userBlockSize), digest: digest))
    }

    static func header(payloadLength: UInt64, digest: [UInt8]) -> [UInt8] {
        var h = magic
        func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { h += $0 } }
        le(sealVersion)
        le(UInt32(userBlockSize))
        le(payloadLength)
        h += digest
        h += [UInt8](repeating: 0, count: userBlockSize - h.count)
        return h
    }

    /// Check `url` before anything parses it: `.sealed` when header, length and SHA-256 agree, `.legacy`
    /// for a plain HDF5 file; otherwise a CheckpointError (.unreadable) naming the file and what is wrong.
    public static func verify(_ url: URL) throws -> Status {
        let path = url.path
        func damaged(_ why: String) -> CheckpointError { CheckpointError(.unreadable, file: path, why) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw errno == ENOENT ? damaged("no such file") : damaged("cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw damaged("cannot stat: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw damaged("not a regular file") }
        let fileSize = Int(st.st_size)

        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        /// Read up to `count` bytes into the front of `buffer`; returns how many (fewer only at the end).
        func readChunk(_ count: Int) throws -> Int {
            var got = 0
            while got < count {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, count - got) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw damaged("read failed: \(String(cString: strerror(errno)))")
                }
                if n == 0 { break }
                got += n
            }
            return got
        }

        let headerBytes = try readChunk(min(userBlockSize, max(fileSize, 0)))
        let head = Array(buffer[0..<headerBytes])
        if head.count >= 8 && head.prefix(8).elementsEqual(hdf5Signature) { return .legacy }
        guard head.count >= 8, head.prefix(8).elementsEqual(magic) else {
            throw damaged("damaged or not a checkpoint: the file starts with neither the dqss header (DQSSCKPT) nor an HDF5 signature")
        }
        guard head.count == userBlockSize else {
            throw damaged("truncated: \(fileSize) bytes, shorter than the \(userBlockSize)-byte header")
        }
        func le<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            head.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: T.self)) }
        }
        let version = le(8, UInt32.self)
        guard version == sealVersion else {
            throw damaged("damaged header: seal version \(version), this dqss writes and reads version \(sealVersion)")
        }
        guard le(12, UInt32.self) == UInt32(userBlockSize) else { throw damaged("damaged header: user block size \(le(12, UInt32.self))") }
        let length = le(16, UInt64.self)
        guard head[56...].allSatisfy({ $0 == 0 }) else { throw damaged("damaged header: bytes 56..<\(userBlockSize) are not zero") }
        guard UInt64(fileSize - userBlockSize) == length else {
            throw damaged("\(fileSize - userBlockSize < Int(clamping: length) ? "truncated" : "has extra bytes"): the header "
                          + "records \(length) bytes after it, the file holds \(fileSize - userBlockSize)")
        }
        var sha = SHA256()
        var remaining = fileSize - userBlockSize
        while remaining > 0 {
            let n = try readChunk(min(buffer.count, remaining))
            if n == 0 { throw damaged("truncated while reading (the file shrank)") }
            buffer.withUnsafeBytes { sha.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            remaining -= n
        }
        let digest = sha.finalize()
        let stored = Array(head[24..<56])
        guard digest == stored else {
            throw damaged("damaged: SHA-256 of the contents is \(digest.hex.prefix(16))…, the header records \(stored.hex.prefix(16))…")
        }
        return .sealed(sha256: digest.hex)
    }

    /// Recompute the header of a sealed file after it was changed on purpose (tests that edit a checkpoint
    /// with HDF5; repair tools). A legacy file gets no header (it has no user block to hold one).
    public static func reseal(_ url: URL) throws {
        var bytes = try [UInt8](Data(contentsOf: url))
        guard bytes.count > userBlockSize, bytes.prefix(8).elementsEqual(magic) else {
            throw CheckpointError(.writeFailed, file: url.path, "cannot reseal: no dqss header")
        }
        seal(&bytes)
        try Data(bytes).write(to: url)
    }
}
