// HDF5File: one open HDF5 file. Owns the file identifier; `close()` (or deinit) closes it with
// H5F_CLOSE_STRONG, which also closes every group/dataset/attribute still open inside it, so a
// closed file is really closed on disk (what the checkpoint writer's fsync + rename relies on).
//
// Files are created with the 1.8 object format or later (checksummed metadata: a corrupted header
// is detected on open) and with link creation order tracked, so groups list children in the order
// they were written.

import Foundation
import _CHDF5

public final class HDF5File {
    /// Path on disk (used in every error message).
    public let path: String
    let handle: HDF5Handle
    public let isWritable: Bool

    private init(path: String, handle: HDF5Handle, writable: Bool) {
        self.path = path
        self.handle = handle
        self.isWritable = writable
    }

    private static func accessList(_ ctx: HDF5Context) throws -> HDF5Handle {
        let fapl = try ctx.handle("create file access list", close: H5Pclose) { H5Pcreate(dqss_h5_p_file_access()) }
        try ctx.check("set file close degree") { H5Pset_fclose_degree(fapl.id, H5F_CLOSE_STRONG) }
        try ctx.check("set format bounds") { H5Pset_libver_bounds(fapl.id, H5F_LIBVER_V18, H5F_LIBVER_V110) }
        return fapl
    }

    /// Create (or truncate) a file for writing.
    public static func create(_ url: URL) throws -> HDF5File {
        let path = url.path
        let ctx = HDF5Context(file: path, object: "")
        let fapl = try accessList(ctx)
        let fcpl = try ctx.handle("create file creation list", close: H5Pclose) { H5Pcreate(dqss_h5_p_file_create()) }
        try ctx.check("track link creation order") { H5Pset_link_creation_order(fcpl.id, dqss_h5_crt_order_flags()) }
        let h = try ctx.handle("create file", close: H5Fclose) {
            H5Fcreate(path, dqss_h5_f_acc_trunc(), fcpl.id, fapl.id)
        }
        return HDF5File(path: path, handle: h, writable: true)
    }

    /// Create a file that lives in memory only (HDF5's core driver, no backing store): nothing touches the
    /// disk, so a full disk can never leave HDF5 with a half-flushed file it cannot close. `name` is used in
    /// error messages; `image()` returns the bytes to write wherever the caller wants. `userBlock` bytes
    /// (0, or a power of two >= 512) are reserved at the start of the file for the caller's own header;
    /// HDF5 finds its superblock after them when the file is opened.
    public static func createInMemory(name: String, userBlock: Int = 0) throws -> HDF5File {
        let ctx = HDF5Context(file: name, object: "")
        let fapl = try accessList(ctx)
        try ctx.check("select the in-memory driver") { H5Pset_fapl_core(fapl.id, 1 << 20, false) }
        let fcpl = try ctx.handle("create file creation list", close: H5Pclose) { H5Pcreate(dqss_h5_p_file_create()) }
        try ctx.check("track link creation order") { H5Pset_link_creation_order(fcpl.id, dqss_h5_crt_order_flags()) }
        if userBlock > 0 {
            try ctx.check("set user block") { H5Pset_userblock(fcpl.id, hsize_t(userBlock)) }
        }
        let h = try ctx.handle("create file", close: H5Fclose) {
            H5Fcreate(name, dqss_h5_f_acc_trunc(), fcpl.id, fapl.id)
        }
        return HDF5File(path: name, handle: h, writable: true)
    }

    /// The file as bytes (flushed first), from the superblock on: a user block is NOT included (write
    /// `userBlock` bytes of your own before it; HDF5 records the superblock's offset in the file).
    public func image() throws -> [UInt8] {
        let ctx = HDF5Context(file: path, object: "")
        try flush()
        HDF5Context.silence()
        let size = H5Fget_file_image(handle.id, nil, 0)
        if size < 0 { throw ctx.error("get file image") }
        var bytes = [UInt8](repeating: 0, count: size)
        let got = bytes.withUnsafeMutableBytes { H5Fget_file_image(handle.id, $0.baseAddress, size) }
        if got != size { throw ctx.error("get file image", got < 0 ? nil : "got \(got) of \(size) bytes") }
        // HDF5 1.10.8 clears the "open for writing" status flag in the image's version 2/3 superblock but
        // keeps the checksum computed with the flag set, so the image as returned does not open
        // ("incorrect metadata checksum"). Recompute it: the checksum follows the signature (8), version,
        // sizes, flags (4) and four addresses.
        if bytes.count >= 12, bytes[8] >= 2 {
            let offsets = Int(bytes[9]), at = 12 + 4 * offsets
            guard bytes.count >= at + 4 else { throw ctx.error("get file image", "image shorter than its superblock") }
            var sum = bytes.withUnsafeBytes { H5_checksum_metadata($0.baseAddress, at, 0) }.littleEndian
            withUnsafeBytes(of: &sum) { bytes.replaceSubrange(at..<(at + 4), with: $0) }
        }
        return bytes
    }

    /// Size of the file in bytes as HDF5 sees it (an upper bound for any read from it).
    public func size() throws -> Int {
        var n: hsize_t = 0
        try HDF5Context(file: path, object: "").check("get file size") { H5Fget_filesize(handle.id, &n) }
        return Int(n)
    }

    /// Open an existing file. A missing file, or one that is not HDF5 / is truncated, throws an error naming it.
    public static func open(_ url: URL, writable: Bool = false) throws -> HDF5File {
        let path = url.path
        let ctx = HDF5Context(file: path, object: "")
        guard FileManager.default.fileExists(atPath: path) else {
            throw HDF5Error(file: path, object: "", operation: "open", detail: "no such file")
        }
        HDF5Context.silence()
        if H5Fis_hdf5(path) <= 0 {
            let why = HDF5Context.takeError()
            throw HDF5Error(file: path, object: "", operation: "open",
                            detail: "not a readable HDF5 file (truncated or corrupt?): \(why)")
        }
        let fapl = try accessList(ctx)
        let h = try ctx.handle("open", close: H5Fclose) {
            H5Fopen(path, writable ? dqss_h5_f_acc_rdwr() : dqss_h5_f_acc_rdonly(), fapl.id)
        }
        return HDF5File(path: path, handle: h, writable: writable)
    }

    /// The root group "/".
    public func root() throws -> HDF5Group {
        let ctx = HDF5Context(file: path, object: "/")
        let g = try ctx.handle("open group", close: H5Gclose) { H5Gopen2(handle.id, "/", dqss_h5_p_default()) }
        return HDF5Group(file: self, path: "/", handle: g)
    }

    /// Write everything buffered to the file (H5Fflush, global scope).
    public func flush() throws {
        try HDF5Context(file: path, object: "").check("flush") { H5Fflush(handle.id, H5F_SCOPE_GLOBAL) }
    }

    /// Close now (idempotent). Objects opened from this file become unusable.
    public func close() throws {
        HDF5Context.silence()
        guard H5Iis_valid(handle.id) > 0 else { return }
        try HDF5Context(file: path, object: "").check("close") { H5Fclose(handle.id) }
    }

    var isOpen: Bool { H5Iis_valid(handle.id) > 0 }
}
