// SafetensorsWriter: writes float32 (and int64) tensors in the safetensors format.
//
// Deterministic output: tensors are stored in the order given (callers pass a model's state_dict order),
// the header lists `__metadata__` first and then the tensors in that order, with keys in a fixed order,
// and is padded with spaces to a multiple of 8 bytes (as the reference Python writer does) so that the
// data area is 8-byte aligned. The file is written to a temporary file next to the target and renamed,
// so a crash never leaves a half-written checkpoint under the final name.

import DQSSTensor
import Foundation

public enum SafetensorsWriter {
    /// One tensor to write: name, dtype, shape and its little-endian bytes.
    public struct Entry: Sendable {
        public let name: String
        public let dtype: SafetensorsDType
        public let shape: [Int]
        public let bytes: Data

        public init(name: String, dtype: SafetensorsDType, shape: [Int], bytes: Data) {
            self.name = name; self.dtype = dtype; self.shape = shape; self.bytes = bytes
        }

        /// A float32 tensor (bytes copied now, so the tensor may change afterwards).
        public static func float32(_ name: String, _ tensor: Tensor) -> Entry {
            Entry(name: name, dtype: .f32, shape: tensor.shape,
                  bytes: Data(bytes: tensor.data, count: tensor.count * 4))
        }

        /// An int64 tensor, e.g. BatchNorm's `num_batches_tracked` (shape [] for a scalar).
        public static func int64(_ name: String, shape: [Int], _ values: [Int64]) -> Entry {
            precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
            let le = values.map { $0.littleEndian }
            return Entry(name: name, dtype: .i64, shape: shape, bytes: le.withUnsafeBytes { Data($0) })
        }
    }

    /// Write float32 tensors in the given order.
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to url: URL) throws {
        try write(entries: tensors.map { Entry.float32($0.0, $0.1) }, metadata: metadata, to: url)
    }

    /// Write arbitrary entries in the given order. Duplicate names or a byte count that does not match
    /// the shape are programming errors reported as thrown errors naming the tensor.
    public static func write(entries: [Entry], metadata: [String: String] = [:], to url: URL) throws {
        let file = displayName(url)
        var seen = Set<String>()
        var parts: [String] = []
        if !metadata.isEmpty {
            let m = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(m.joined(separator: ","))}")
        }
        var offset = 0
        for e in entries {
            guard e.name != "__metadata__", seen.insert(e.name).inserted else {
                throw DQSSDataError("\(file): duplicate or reserved tensor name \"\(e.name)\"")
            }
            let expected = e.shape.reduce(1, *) * e.dtype.size
            guard e.bytes.count == expected else {
                throw DQSSDataError("\(file): tensor \"\(e.name)\" has \(e.bytes.count) bytes, shape \(e.shape) of \(e.dtype.rawValue) needs \(expected)")
            }
            let shape = e.shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(e.name)):{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + expected)]}")
            offset += expected
        }
        var header = Data("{\(parts.joined(separator: ","))}".utf8)
        let padding = (8 - header.count % 8) % 8
        header.append(contentsOf: [UInt8](repeating: 0x20, count: padding))

        var out = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(header)
        for e in entries { out.append(e.bytes) }
        do {
            // .atomic writes a temporary file in the same directory and renames it over the target.
            try out.write(to: url, options: .atomic)
        } catch {
            throw DQSSDataError("\(file): cannot write safetensors file (\(error.localizedDescription))")
        }
    }

    /// A JSON string literal (quotes, backslashes and control characters escaped).
    static func jsonString(_ s: String) -> String {
        var r = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": r += "\\\""
            case "\\": r += "\\\\"
            case "\n": r += "\\n"
            case "\r": r += "\\r"
            case "\t": r += "\\t"
            default:
                if u.value < 0x20 { r += String(format: "\\u%04x", u.value) } else { r.unicodeScalars.append(u) }
            }
        }
        return r + "\""
    }
}
