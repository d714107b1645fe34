// HDF5Group: a group inside an open HDF5File, and everything checkpoints do with it: sub-groups,
// numeric array datasets (float32/float64/int64/uint64 with a shape), string-array datasets, and
// scalar attributes (UTF-8 string, int64, float64).
//
// Every dataset with at least one element is chunked as one chunk with the Fletcher-32 checksum filter,
// so a flipped byte in a weight is reported on read instead of silently resuming from garbage.
// Reads are strict: the stored element type must be the one asked for (no silent conversion).
// Names are single link names (no "/"): dotted PyTorch names ("layer1.0.conv1.weight") are fine.

import Foundation
import _CHDF5

public final class HDF5Group {
    public let file: HDF5File
    /// Absolute path inside the file ("/", "/model").
    public let path: String
    let handle: HDF5Handle

    init(file: HDF5File, path: String, handle: HDF5Handle) {
        self.file = file
        self.path = path
        self.handle = handle
    }

    func child(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }
    func ctx(_ name: String) -> HDF5Context { HDF5Context(file: file.path, object: child(name)) }
    private var selfCtx: HDF5Context { HDF5Context(file: file.path, object: path) }

    func validateName(_ name: String) throws {
        if name.isEmpty || name.contains("/") || name == "." {
            throw HDF5Error(file: file.path, object: child(name), operation: "name",
                            detail: "link names must be non-empty and must not contain '/'")
        }
    }

    // MARK: - Groups and links

    /// Whether a link `name` exists directly in this group (never prints or throws for a missing name).
    public func contains(_ name: String) -> Bool {
        if name.isEmpty || name.contains("/") { return false }
        HDF5Context.silence()
        let r = H5Lexists(handle.id, name, dqss_h5_p_default())
        if r < 0 { _ = HDF5Context.takeError() }
        return r > 0
    }

    /// Create a sub-group (its children are listed in creation order).
    public func createGroup(_ name: String) throws -> HDF5Group {
        try validateName(name)
        let c = ctx(name)
        let gcpl = try c.handle("create group property list", close: H5Pclose) { H5Pcreate(dqss_h5_p_group_create()) }
        try c.check("track link creation order") { H5Pset_link_creation_order(gcpl.id, dqss_h5_crt_order_flags()) }
        let g = try c.handle("create group", close: H5Gclose) {
            H5Gcreate2(handle.id, name, dqss_h5_p_default(), gcpl.id, dqss_h5_p_default())
        }
        return HDF5Group(file: file, path: child(name), handle: g)
    }

    /// Open an existing sub-group; a missing one throws "missing group".
    public func group(_ name: String) throws -> HDF5Group {
        try requireLink(name, kind: "group")
        let g = try ctx(name).handle("open group", close: H5Gclose) { H5Gopen2(handle.id, name, dqss_h5_p_default()) }
        return HDF5Group(file: file, path: child(name), handle: g)
    }

    func requireLink(_ name: String, kind: String) throws {
        try validateName(name)
        if !contains(name) {
            throw HDF5Error(file: file.path, object: child(name), operation: "open \(kind)", detail: "missing \(kind)")
        }
    }

    /// Names of the links in this group, in creation order (name order for groups written without it).
    public func childNames() throws -> [String] {
        var info = H5G_info_t()
        try selfCtx.check("list group") { H5Gget_info(handle.id, &info) }
        let order = info.max_corder > 0 || info.nlinks == 0 ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME
        var names: [String] = []
        for i in 0..<info.nlinks {
            var index = order
            HDF5Context.silence()
            var n = H5Lget_name_by_idx(handle.id, ".", index, H5_ITER_INC, i, nil, 0, dqss_h5_p_default())
            if n < 0 {   // creation order not tracked in this group: fall back to names
                _ = HDF5Context.takeError()
                index = H5_INDEX_NAME
                n = H5Lget_name_by_idx(handle.id, ".", index, H5_ITER_INC, i, nil, 0, dqss_h5_p_default())
                if n < 0 { throw selfCtx.error("list group") }
            }
            var buffer = [CChar](repeating: 0, count: Int(n) + 1)
            let m = H5Lget_name_by_idx(handle.id, ".", index, H5_ITER_INC, i, &buffer, buffer.count, dqss_h5_p_default())
            if m < 0 { throw selfCtx.error("list group") }
            names.append(String(decoding: buffer.prefix(Int(m)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return names
    }

    /// Remove a link (dataset or group).
    public func delete(_ name: String) throws {
        try requireLink(name, kind: "link")
        try ctx(name).check("delete") { H5Ldelete(handle.id, name, dqss_h5_p_default()) }
    }

    // MARK: - Numeric datasets

    private static func nativeType(_ v: HDF5Values) -> hid_t {
        switch v {
        case .float32: dqss_h5_native_float()
        case .float64: dqss_h5_native_double()
        case .int64: dqss_h5_native_int64()
        case .uint64: dqss_h5_native_uint64()
        }
    }

    func dataspace(_ c: HDF5Context, shape: [Int]) throws -> HDF5Handle {
        if shape.isEmpty {
            return try c.handle("create dataspace", close: H5Sclose) { H5Screate(H5S_SCALAR) }
        }
        let dims = shape.map { hsize_t($0) }
        return try c.handle("create dataspace", close: H5Sclose) { H5Screate_simple(Int32(dims.count), dims, nil) }
    }

    /// Write a new dataset `name` holding `array`.
    public func write(_ name: String, _ array: HDF5Array) throws {
        try validateName(name)
        let c = ctx(name)
        let space = try dataspace(c, shape: array.shape)
        let dcpl = try c.handle("create dataset property list", close: H5Pclose) { H5Pcreate(dqss_h5_p_dataset_create()) }
        if !array.shape.isEmpty && array.values.count > 0 {
            let chunk = array.shape.map { hsize_t($0) }
            try c.check("set chunking") { H5Pset_chunk(dcpl.id, Int32(chunk.count), chunk) }
            try c.check("set Fletcher-32 checksum") { H5Pset_fletcher32(dcpl.id) }
        }
        let type = Self.nativeType(array.values)
        let d = try c.handle("create dataset", close: H5Dclose) {
            H5Dcreate2(handle.id, name, type, space.id, dqss_h5_p_default(), dcpl.id, dqss_h5_p_default())
        }
        if array.values.count == 0 { return }
        func put(_ p: UnsafeRawPointer) -> herr_t {
            H5Dwrite(d.id, type, dqss_h5_s_all(), dqss_h5_s_all(), dqss_h5_p_default(), p)
        }
        try c.check("write dataset") {
            switch array.values {
            case let .float32(v): v.withUnsafeBytes { put($0.baseAddress!) }
            case let .float64(v): v.withUnsafeBytes { put($0.baseAddress!) }
            case let .int64(v): v.withUnsafeBytes { put($0.baseAddress!) }
            case let .uint64(v): v.withUnsafeBytes { put($0.baseAddress!) }
            }
        }
    }

    func openDataset(_ name: String) throws -> HDF5Handle {
        try requireLink(name, kind: "dataset")
        return try ctx(name).handle("open dataset", close: H5Dclose) { H5Dopen2(handle.id, name, dqss_h5_p_default()) }
    }

    func shape(of space: HDF5Handle, _ c: HDF5Context) throws -> [Int] {
        let rank = H5Sget_simple_extent_ndims(space.id)
        if rank < 0 { throw c.error("read dataspace") }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        if rank > 0 { try c.check("read dataspace") { H5Sget_simple_extent_dims(space.id, &dims, nil) } }
        return dims.map { Int($0) }
    }

    /// The element type stored in dataset `name` ("float32", "int64", ...; "string"; or a description).
    func storedTypeName(_ type: HDF5Handle) -> String {
        let cls = H5Tget_class(type.id), size = H5Tget_size(type.id)
        switch cls {
        case H5T_FLOAT: return "float\(size * 8)"
        case H5T_INTEGER: return (H5Tget_sign(type.id) == H5T_SGN_NONE ? "uint" : "int") + "\(size * 8)"
        case H5T_STRING: return "string"
        default: return "HDF5 type class \(cls.rawValue)"
        }
    }

    /// Read dataset `name`, whatever its numeric element type (one of the four).
    public func read(_ name: String) throws -> HDF5Array {
        let c = ctx(name)
        let d = try openDataset(name)
        let type = try c.handle("read dataset type", close: H5Tclose) { H5Dget_type(d.id) }
        let typeName = storedTypeName(type)
        let space = try c.handle("read dataspace", close: H5Sclose) { H5Dget_space(d.id) }
        let shape = try shape(of: space, c)
        let count = shape.reduce(1, *)
        func get(_ memType: hid_t, _ p: UnsafeMutableRawPointer) throws {
            if count == 0 { return }
            try c.check("read dataset") { H5Dread(d.id, memType, dqss_h5_s_all(), dqss_h5_s_all(), dqss_h5_p_default(), p) }
        }
        let values: HDF5Values
        switch typeName {
        case "float32":
            var v = [Float](repeating: 0, count: count)
            try v.withUnsafeMutableBytes { try get(dqss_h5_native_float(), $0.baseAddress!) }
            values = .float32(v)
        case "float64":
            var v = [Double](repeating: 0, count: count)
            try v.withUnsafeMutableBytes { try get(dqss_h5_native_double(), $0.baseAddress!) }
            values = .float64(v)
        case "int64":
            var v = [Int64](repeating: 0, count: count)
            try v.withUnsafeMutableBytes { try get(dqss_h5_native_int64(), $0.baseAddress!) }
            values = .int64(v)
        case "uint64":
            var v = [UInt64](repeating: 0, count: count)
            try v.withUnsafeMutableBytes { try get(dqss_h5_native_uint64(), $0.baseAddress!) }
            values = .uint64(v)
        default:
            throw c.error("read dataset", "holds \(typeName), expected float32, float64, int64 or uint64")
        }
        return HDF5Array(shape: shape, values: values)
    }

    /// Read dataset `name`, requiring element type `type` ("float32", ...) and, if given, `shape`.
    public func read(_ name: String, type: String, shape expected: [Int]? = nil) throws -> HDF5Array {
        let a = try read(name)
        if a.values.typeName != type {
            throw ctx(name).error("read dataset", "holds \(a.values.typeName), expected \(type)")
        }
        if let expected, a.shape != expected {
            throw ctx(name).error("read dataset", "has shape \(a.shape), expected \(expected)")
        }
        return a
    }

    // MARK: - Strings

    /// A fixed-length UTF-8 string type of `size` bytes, NUL-padded. Fixed length on purpose: a
    /// variable-length string is a pointer into a heap that HDF5 follows without a bound, so one damaged
    /// byte can make it read or free garbage (issue 16); a fixed-length one is plain bytes of a known size.
    private func stringType(_ c: HDF5Context, size: Int) throws -> HDF5Handle {
        let t = try c.handle("create string type", close: H5Tclose) { H5Tcopy(dqss_h5_c_s1()) }
        try c.check("create string type") { H5Tset_size(t.id, max(1, size)) }
        try c.check("create string type") { H5Tset_strpad(t.id, H5T_STR_NULLPAD) }
        try c.check("create string type") { H5Tset_cset(t.id, H5T_CSET_UTF8) }
        return t
    }

    /// Write a 1-D dataset of fixed-length UTF-8 strings (as long as the longest, NUL-padded).
    public func writeStrings(_ name: String, _ strings: [String]) throws {
        try validateName(name)
        let c = ctx(name)
        let size = max(1, strings.map(\.utf8.count).max() ?? 1)
        let type = try stringType(c, size: size)
        let space = try dataspace(c, shape: [strings.count])
        let d = try c.handle("create dataset", close: H5Dclose) {
            H5Dcreate2(handle.id, name, type.id, space.id, dqss_h5_p_default(), dqss_h5_p_default(), dqss_h5_p_default())
        }
        if strings.isEmpty { return }
        var buffer = [UInt8](repeating: 0, count: strings.count * size)
        for (i, s) in strings.enumerated() { buffer.replaceSubrange((i * size)..<(i * size + s.utf8.count), with: s.utf8) }
        try c.check("write dataset") {
            H5Dwrite(d.id, type.id, dqss_h5_s_all(), dqss_h5_s_all(), dqss_h5_p_default(), buffer)
        }
    }

    /// Refuse a stored string size that cannot be right (larger than the file): a damaged type must not
    /// make us allocate or read an unbounded buffer.
    private func checkStoredSize(_ bytes: Int, _ c: HDF5Context, _ operation: String) throws {
        let limit = (try? file.size()) ?? Int(Int32.max)
        if bytes < 0 || bytes > limit {
            throw c.error(operation, "stored size \(bytes) bytes exceeds the file (\(limit) bytes): damaged")
        }
    }

    /// Read a 1-D string dataset (fixed-length, or variable-length as older dqss wrote them).
    public func readStrings(_ name: String) throws -> [String] {
        let c = ctx(name)
        let d = try openDataset(name)
        let fileType = try c.handle("read dataset type", close: H5Tclose) { H5Dget_type(d.id) }
        guard H5Tget_class(fileType.id) == H5T_STRING else {
            throw c.error("read dataset", "holds \(storedTypeName(fileType)), expected strings")
        }
        let space = try c.handle("read dataspace", close: H5Sclose) { H5Dget_space(d.id) }
        let shape = try shape(of: space, c)
        guard shape.count == 1 else { throw c.error("read dataset", "has shape \(shape), expected a 1-D string array") }
        let n = shape[0]
        if n == 0 { return [] }
        // Memory type copied from the file type: UTF-8 and ASCII strings have no conversion path.
        let memType = try c.handle("copy string type", close: H5Tclose) { H5Tcopy(fileType.id) }
        if H5Tis_variable_str(fileType.id) > 0 {
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: n)
            try c.check("read dataset") {
                H5Dread(d.id, memType.id, dqss_h5_s_all(), dqss_h5_s_all(), dqss_h5_p_default(), &pointers)
            }
            let out = pointers.map { $0.map { String(cString: $0) } ?? "" }
            _ = H5Dvlen_reclaim(memType.id, space.id, dqss_h5_p_default(), &pointers)
            return out
        }
        let size = H5Tget_size(fileType.id)
        let (total, overflow) = n.multipliedReportingOverflow(by: size)
        try checkStoredSize(overflow ? -1 : total, c, "read dataset")
        var buffer = [UInt8](repeating: 0, count: n * size)
        try c.check("read dataset") {
            H5Dread(d.id, memType.id, dqss_h5_s_all(), dqss_h5_s_all(), dqss_h5_p_default(), &buffer)
        }
        return (0..<n).map { i in
            String(decoding: buffer[(i * size)..<((i + 1) * size)].prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    // MARK: - Attributes (scalars on this group)

    private func createAttribute(_ name: String, type: hid_t, _ write: (hid_t) -> herr_t) throws {
        let c = HDF5Context(file: file.path, object: path + "@" + name)
        let space = try c.handle("create dataspace", close: H5Sclose) { H5Screate(H5S_SCALAR) }
        HDF5Context.silence()
        if H5Aexists(handle.id, name) > 0 {
            try c.check("replace attribute") { H5Adelete(handle.id, name) }
        }
        let a = try c.handle("create attribute", close: H5Aclose) {
            H5Acreate2(handle.id, name, type, space.id, dqss_h5_p_default(), dqss_h5_p_default())
        }
        try c.check("write attribute") { write(a.id) }
    }

    /// A fixed-length UTF-8 string attribute (see `stringType`).
    public func setAttribute(_ name: String, _ value: String) throws {
        var bytes = Array(value.utf8)
        if bytes.isEmpty { bytes = [0] }
        let type = try stringType(HDF5Context(file: file.path, object: path + "@" + name), size: bytes.count)
        try createAttribute(name, type: type.id) { H5Awrite($0, type.id, bytes) }
    }

    public func setAttribute(_ name: String, _ value: Int64) throws {
        var v = value
        try createAttribute(name, type: dqss_h5_native_int64()) { H5Awrite($0, dqss_h5_native_int64(), &v) }
    }

    public func setAttribute(_ name: String, _ value: Double) throws {
        var v = value
        try createAttribute(name, type: dqss_h5_native_double()) { H5Awrite($0, dqss_h5_native_double(), &v) }
    }

    public func hasAttribute(_ name: String) -> Bool {
        HDF5Context.silence()
        let r = H5Aexists(handle.id, name)
        if r < 0 { _ = HDF5Context.takeError() }
        return r > 0
    }

    private func openAttribute(_ name: String) throws -> (HDF5Handle, HDF5Handle, HDF5Context) {
        let c = HDF5Context(file: file.path, object: path + "@" + name)
        guard hasAttribute(name) else { throw c.error("read attribute", "missing attribute") }
        let a = try c.handle("open attribute", close: H5Aclose) { H5Aopen(handle.id, name, dqss_h5_p_default()) }
        let t = try c.handle("read attribute type", close: H5Tclose) { H5Aget_type(a.id) }
        return (a, t, c)
    }

    public func stringAttribute(_ name: String) throws -> String {
        let (a, fileType, c) = try openAttribute(name)
        guard H5Tget_class(fileType.id) == H5T_STRING else {
            throw c.error("read attribute", "holds \(storedTypeName(fileType)), expected a string")
        }
        let memType = try c.handle("copy string type", close: H5Tclose) { H5Tcopy(fileType.id) }
        if H5Tis_variable_str(fileType.id) > 0 {
            var pointer: UnsafeMutablePointer<CChar>? = nil
            try c.check("read attribute") { H5Aread(a.id, memType.id, &pointer) }
            defer { if let pointer { H5free_memory(pointer) } }
            return pointer.map { String(cString: $0) } ?? ""
        }
        let size = H5Tget_size(fileType.id)
        try checkStoredSize(size, c, "read attribute")
        var buffer = [UInt8](repeating: 0, count: size + 1)
        try c.check("read attribute") { H5Aread(a.id, memType.id, &buffer) }
        return String(decoding: buffer.prefix(while: { $0 != 0 }), as: UTF8.self)
    }

    public func int64Attribute(_ name: String) throws -> Int64 {
        let (a, fileType, c) = try openAttribute(name)
        guard H5Tget_class(fileType.id) == H5T_INTEGER else {
            throw c.error("read attribute", "holds \(storedTypeName(fileType)), expected an integer")
        }
        var v: Int64 = 0
        try c.check("read attribute") { H5Aread(a.id, dqss_h5_native_int64(), &v) }
        return v
    }

    public func doubleAttribute(_ name: String) throws -> Double {
        let (a, fileType, c) = try openAttribute(name)
        guard H5Tget_class(fileType.id) == H5T_FLOAT else {
            throw c.error("read attribute", "holds \(storedTypeName(fileType)), expected a float")
        }
        var v: Double = 0
        try c.check("read attribute") { H5Aread(a.id, dqss_h5_native_double(), &v) }
        return v
    }
}
