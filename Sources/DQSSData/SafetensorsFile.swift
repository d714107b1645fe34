// SafetensorsFile: a validated, read-only view of a .safetensors file.
//
// Format (huggingface/safetensors): 8 bytes little-endian u64 N, then N bytes of UTF-8 JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}},
// then the raw little-endian tensor bytes; offsets are relative to the byte after the header.
//
// Contract: `init(contentsOf:)` checks everything before any tensor is read — the header length lies
// within the file, the header is a JSON object, every entry has a known dtype, a non-negative integer
// shape and offsets with begin <= end inside the data area, end - begin == numel * dtype size, and no two
// tensors overlap. Any violation throws a DQSSDataError naming the file (and the tensor); a corrupt or
// truncated file never traps. The file is memory-mapped; tensors are converted to float32 on request.

import DQSSTensor
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct SafetensorsFile: Sendable {
    /// dtype and shape of one stored tensor, plus where its bytes are (relative to the data area).
    public struct Info: Equatable, Sendable {
        public let dtype: SafetensorsDType
        public let shape: [Int]
        public let byteRange: Range<Int>
        public var count: Int { shape.reduce(1, *) }
    }

    public let url: URL
    /// Tensor names in file order (increasing data offset).
    public let names: [String]
    /// The optional `__metadata__` string map.
    public let metadata: [String: String]
    private let infos: [String: Info]
    private let bytes: Data   // whole file (memory-mapped)
    private let dataStart: Int

    public init(contentsOf url: URL) throws {
        self.url = url
        let file = displayName(url)
        // Only a regular file can be a safetensors file: /dev/null, a FIFO (which would block) or a
        // directory get an error that says so, not the mapping's "permission" message.
        var st = stat()
        guard stat(url.path, &st) == 0 else {   // follows symlinks, as reading does
            throw DQSSDataError("\(file): cannot read safetensors file (\(String(cString: strerror(errno))))")
        }
        let kind = st.st_mode & S_IFMT
        if kind != S_IFREG {
            let what = kind == S_IFDIR ? "a directory" : kind == S_IFCHR ? "a character device"
                : kind == S_IFBLK ? "a block device" : kind == S_IFIFO ? "a FIFO (named pipe)"
                : kind == S_IFSOCK ? "a socket" : "not a regular file"
            throw DQSSDataError("\(file): not a safetensors file: it is \(what), a regular file is expected")
        }
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw DQSSDataError("\(file): cannot read safetensors file (\(error.localizedDescription))")
        }
        guard data.count >= 8 else {
            throw DQSSDataError("\(file): not a safetensors file: \(data.count) bytes, shorter than the 8-byte header length")
        }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw DQSSDataError("\(file): header length \(headerLength) bytes exceeds the \(data.count - 8) bytes after the length field (truncated or not a safetensors file)")
        }
        let n = Int(headerLength)
        let headerBytes = data.subdata(in: data.startIndex + 8 ..< data.startIndex + 8 + n)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: headerBytes, options: [])
        } catch {
            throw DQSSDataError("\(file): header is not valid JSON (\(n) bytes): \(error.localizedDescription)")
        }
        guard let header = json as? [String: Any] else {
            throw DQSSDataError("\(file): header JSON is not an object")
        }
        let dataCount = data.count - 8 - n
        var metadata: [String: String] = [:]
        var infos: [String: Info] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw DQSSDataError("\(file): __metadata__ is not an object of strings")
                }
                for (k, v) in m {
                    guard let s = v as? String else {
                        throw DQSSDataError("\(file): __metadata__ value for \"\(k)\" is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            infos[name] = try Self.parseEntry(name: name, value: value, dataCount: dataCount, file: file)
        }
        // No two tensors may share bytes (zero-sized tensors occupy nothing), and, as the format requires
        // (the reference implementation refuses an "incomplete buffer"), the tensors tile the data area
        // without holes. That makes a damaged offset that shifts one tensor's window detectable instead
        // of silently loading the wrong bytes.
        let ordered = infos.sorted { ($0.value.byteRange.lowerBound, $0.key) < ($1.value.byteRange.lowerBound, $1.key) }
        var previous: (name: String, end: Int)? = nil
        for (name, info) in ordered where !info.byteRange.isEmpty {
            if let p = previous, info.byteRange.lowerBound < p.end {
                throw DQSSDataError("\(file): tensor \"\(name)\" (bytes \(info.byteRange)) overlaps tensor \"\(p.name)\" (ends at \(p.end))")
            }
            let end = previous?.end ?? 0
            if info.byteRange.lowerBound != end {
                throw DQSSDataError("\(file): tensor \"\(name)\" starts at data byte \(info.byteRange.lowerBound), expected \(end): "
                                    + "the tensors do not tile the data area (damaged offsets?)")
            }
            previous = (name, info.byteRange.upperBound)
        }
        if (previous?.end ?? 0) != dataCount {
            throw DQSSDataError("\(file): the tensors cover \(previous?.end ?? 0) of the \(dataCount) data bytes (damaged offsets or trailing bytes)")
        }
        self.names = ordered.map(\.key)
        self.metadata = metadata
        self.infos = infos
        self.bytes = data
        self.dataStart = 8 + n
    }

    private static func parseEntry(name: String, value: Any, dataCount: Int, file: String) throws -> Info {
        guard let entry = value as? [String: Any] else {
            throw DQSSDataError("\(file): tensor \"\(name)\": header entry is not an object")
        }
        guard let dtypeString = entry["dtype"] as? String else {
            throw DQSSDataError("\(file): tensor \"\(name)\": missing or non-string \"dtype\"")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeString) else {
            let known = SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ")
            throw DQSSDataError("\(file): tensor \"\(name)\": unsupported dtype \"\(dtypeString)\" (supported: \(known))")
        }
        guard let shape = integers(entry["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
            throw DQSSDataError("\(file): tensor \"\(name)\": \"shape\" is not a list of non-negative integers")
        }
        guard let offsets = integers(entry["data_offsets"]), offsets.count == 2 else {
            throw DQSSDataError("\(file): tensor \"\(name)\": \"data_offsets\" is not a pair of integers")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, begin <= end, end <= dataCount else {
            throw DQSSDataError("\(file): tensor \"\(name)\": data_offsets [\(begin), \(end)] outside the \(dataCount) data bytes (truncated file?)")
        }
        // numel * size, guarding against overflow from absurd shapes.
        var numel = 1
        for d in shape {
            let (m, overflow) = numel.multipliedReportingOverflow(by: d)
            guard !overflow else { throw DQSSDataError("\(file): tensor \"\(name)\": shape \(shape) is too large") }
            numel = m
        }
        let (expected, overflow) = numel.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, expected == end - begin else {
            throw DQSSDataError("\(file): tensor \"\(name)\": \(end - begin) data bytes but shape \(shape) of \(dtype.rawValue) needs \(numel) x \(dtype.size) = \(overflow ? "overflow" : String(expected)) bytes")
        }
        return Info(dtype: dtype, shape: shape, byteRange: begin..<end)
    }

    /// JSON numbers arrive as NSNumber/Int; accept only exact integers.
    private static func integers(_ value: Any?) -> [Int]? {
        guard let list = value as? [Any] else { return nil }
        var out: [Int] = []
        out.reserveCapacity(list.count)
        for v in list {
            if let d = v as? Double, d.rounded() != d { return nil }
            guard let i = v as? Int else { return nil }
            out.append(i)
        }
        return out
    }

    // MARK: - Access

    /// dtype, shape and byte range of a stored tensor, or nil when the file has no such name.
    public func info(named name: String) -> Info? { infos[name] }

    public func contains(_ name: String) -> Bool { infos[name] != nil }

    /// The tensor converted to float32 (a fresh Tensor).
    public func tensor(named name: String) throws -> Tensor {
        let info = try requireInfo(name)
        let t = Tensor(shape: info.shape)
        copy(info, into: t.data)
        return t
    }

    /// Convert the stored tensor into `destination`, which must already have the same shape.
    public func read(named name: String, into destination: Tensor) throws {
        let info = try requireInfo(name)
        guard destination.shape == info.shape else {
            throw DQSSDataError("\(displayName(url)): tensor \"\(name)\" has shape \(info.shape), destination has \(destination.shape)")
        }
        copy(info, into: destination.data)
    }

    /// The raw little-endian bytes of a stored tensor (its original dtype), e.g. for int64 counters.
    public func rawBytes(named name: String) throws -> Data {
        let info = try requireInfo(name)
        let start = bytes.startIndex + dataStart
        return bytes.subdata(in: start + info.byteRange.lowerBound ..< start + info.byteRange.upperBound)
    }

    private func requireInfo(_ name: String) throws -> Info {
        guard let info = infos[name] else {
            throw DQSSDataError("\(displayName(url)): no tensor named \"\(name)\" (the file has \(names.count) tensors)")
        }
        return info
    }

    private func copy(_ info: Info, into dst: UnsafeMutablePointer<Float>) {
        if info.count == 0 { return }
        bytes.withUnsafeBytes { raw in
            let src = raw.baseAddress! + dataStart + info.byteRange.lowerBound
            info.dtype.convert(src, count: info.count, to: dst)
        }
    }
}
