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
