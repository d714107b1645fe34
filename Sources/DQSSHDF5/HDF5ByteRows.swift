// HDF5ByteRows: a uint8 dataset [rows, ...] written and read a range of leading-axis rows at a time
// (HDF5 hyperslabs), for data too large to hold at once: image shards are filled image by image as they
// are decoded, and a training rank reads the images of one batch, not the whole shard.
//
// Chunks are `rowsPerChunk` rows with the Fletcher-32 checksum, as every dataset of this wrapper: a
// flipped byte is reported on read. One row per chunk makes a random single-row read touch one chunk.
// The leading axis is extendable (`append`): a writer that skips unreadable inputs does not know the
// final row count when it creates the dataset.

import _CHDF5

public final class HDF5ByteRows {
    public let file: HDF5File
    /// Path of the dataset inside the file.
    public let path: String
    /// [rows, ...]; at least one axis.
    public private(set) var shape: [Int]
    let handle: HDF5Handle

    init(file: HDF5File, path: String, shape: [Int], handle: HDF5Handle) {
        self.file = file; self.path = path; self.shape = shape; self.handle = handle
    }

    public var rowCount: Int { shape[0] }
    /// Bytes in one row (the product of the trailing axes).
    public var rowBytes: Int { shape.dropFirst().reduce(1, *) }

    private var ctx: HDF5Context { HDF5Context(file: file.path, object: path) }

    /// The file dataspace with rows `rows` selected, and a matching memory dataspace.
    private func select(_ rows: Range<Int>, _ operation: String) throws -> (HDF5Handle, HDF5Handle) {
        guard rows.lowerBound >= 0, rows.upperBound <= rowCount else {
            throw ctx.error(operation, "rows \(rows) outside 0..<\(rowCount)")
        }
        let c = ctx
        let fileSpace = try c.handle(operation, close: H5Sclose) { H5Dget_space(handle.id) }
        var start = [hsize_t](repeating: 0, count: shape.count)
        start[0] = hsize_t(rows.lowerBound)
        var count = shape.map { hsize_t($0) }
        count[0] = hsize_t(rows.count)
        try c.check(operation) { H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, start, nil, count, nil) }
        let memSpace = try c.handle(operation, close: H5Sclose) { H5Screate_simple(Int32(count.count), count, nil) }
        return (fileSpace, memSpace)
    }

    /// Write rows `rows` from `bytes` (exactly rows.count * rowBytes of them).
    public func write(rows: Range<Int>, from bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count == rows.count * rowBytes else {
            throw ctx.error("write rows", "\(bytes.count) bytes for \(rows.count) rows of \(rowBytes)")
        }
        if rows.isEmpty { return }
        let (fileSpace, memSpace) = try select(rows, "write rows")
        try ctx.check("write rows") {
            H5Dwrite(handle.id, dqss_h5_native_uint8(), memSpace.id, fileSpace.id, dqss_h5_p_default(), bytes.baseAddress)
        }
    }

    /// Read rows `rows` into `bytes` (exactly rows.count * rowBytes of them).
    public func read(rows: Range<Int>, into bytes: UnsafeMutableRawBufferPointer) throws {
        guard bytes.count == rows.count * rowBytes else {
            throw ctx.error("read rows", "\(bytes.count) bytes for \(rows.count) rows of \(rowBytes)")
        }
        if rows.isEmpty { return }
        let (fileSpace, memSpace) = try select(rows, "read rows")
        try ctx.check("read rows") {
            H5Dread(handle.id, dqss_h5_native_uint8(), memSpace.id, fileSpace.id, dqss_h5_p_default(), bytes.baseAddress)
        }
    }

    /// Grow the leading axis by bytes.count / rowBytes rows and write `bytes` into them.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard rowBytes > 0, bytes.count % rowBytes == 0 else {
            throw ctx.error("append rows", "\(bytes.count) bytes are not whole rows of \(rowBytes)")
        }
        let first = rowCount, added = bytes.count / rowBytes
        var dims = shape.map { hsize_t($0) }
        dims[0] = hsize_t(first + added)
        try ctx.check("extend dataset") { H5Dset_extent(handle.id, dims) }
        shape[0] = first + added
        try write(rows: first..<(first + added), from: bytes)
    }

    public func read(rows: Range<Int>) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: rows.count * rowBytes)
        try out.withUnsafeMutableBytes { try read(rows: rows, into: $0) }
        return out
    }
}

extension HDF5Group {
    /// Create a uint8 dataset of `shape` (zero-filled until written), chunked by `rowsPerChunk` rows,
    /// whose leading axis can grow with `append`. - Precondition: rows of at least one byte.
    public func createByteRows(_ name: String, shape: [Int], rowsPerChunk: Int = 1) throws -> HDF5ByteRows {
        try validateName(name)
        let c = ctx(name)
        guard !shape.isEmpty, shape.allSatisfy({ $0 >= 0 }), shape.dropFirst().allSatisfy({ $0 > 0 }), rowsPerChunk >= 1 else {
            throw c.error("create dataset", "byte rows need a shape [rows, ...] and rowsPerChunk >= 1, got \(shape), \(rowsPerChunk)")
        }
        let dims = shape.map { hsize_t($0) }
        var maxDims = dims
        maxDims[0] = dqss_h5_unlimited()
        let space = try c.handle("create dataspace", close: H5Sclose) { H5Screate_simple(Int32(dims.count), dims, maxDims) }
        let dcpl = try c.handle("create dataset property list", close: H5Pclose) { H5Pcreate(dqss_h5_p_dataset_create()) }
        var chunk = dims
        chunk[0] = hsize_t(rowsPerChunk)   // an extendable dataset must be chunked, even while empty
        try c.check("set chunking") { H5Pset_chunk(dcpl.id, Int32(chunk.count), chunk) }
        try c.check("set Fletcher-32 checksum") { H5Pset_fletcher32(dcpl.id) }
        let d = try c.handle("create dataset", close: H5Dclose) {
            H5Dcreate2(handle.id, name, dqss_h5_native_uint8(), space.id, dqss_h5_p_default(), dcpl.id, dqss_h5_p_default())
        }
        return HDF5ByteRows(file: file, path: child(name), shape: shape, handle: d)
    }

    /// Open an existing uint8 dataset; any other element type, or a scalar, throws naming it.
    public func byteRows(_ name: String) throws -> HDF5ByteRows {
        let c = ctx(name)
        let d = try openDataset(name)
        let type = try c.handle("read dataset type", close: H5Tclose) { H5Dget_type(d.id) }
        let typeName = storedTypeName(type)
        guard typeName == "uint8" else { throw c.error("open dataset", "holds \(typeName), expected uint8") }
        let space = try c.handle("read dataspace", close: H5Sclose) { H5Dget_space(d.id) }
        let shape = try shape(of: space, c)
        guard !shape.isEmpty else { throw c.error("open dataset", "is a scalar, expected [rows, ...]") }
        return HDF5ByteRows(file: file, path: child(name), shape: shape, handle: d)
    }
}
