// TensorRTCalibrationCache: the text calibration cache TensorRT's INT8 calibrators write and read
// (IInt8Calibrator::readCalibrationCache; `trtexec --int8 --calib=FILE`):
//
//     TRT-8601-EntropyCalibration2
//     input: 3c8b4396
//     layer1.0.relu2: 3d0f5c29
//
// One header line "TRT-<version>-<algorithm>", then one "tensor_name: <scale>" line per tensor, where
// <scale> is the IEEE-754 float32 bit pattern of the per-tensor scale as a lowercase hex integer
// (no "0x", no padding: "0" for a zero scale), and TensorRT's symmetric INT8 range is ±127·scale, so
// scale = T / 127. <version> is NV_TENSORRT_VERSION: major·1000 + minor·100 + patch up to TensorRT 9
// (8.6.1 -> 8601), major·10000 + minor·100 + patch from TensorRT 10 (10.14.1 -> 101401). TensorRT
// ignores a cache whose header names another version, so it must match the deployment's TensorRT.
//
// What the cache can carry: one dynamic range per ACTIVATION tensor (implicit quantization). Weight
// scales are not read from it — TensorRT computes them itself — so a search's weight strategies reach
// TensorRT only through the QDQ graph (`--format onnx-qdq`). A tensor feeding several quantized layers
// with different thresholds (§2.3) gets the largest one (recorded in `merged`).

import Foundation

public struct TensorRTCalibrationCache: Sendable, Equatable {
    public var header: String
    /// (tensor name, scale) in file order.
    public var entries: [(tensor: String, scale: Float)]

    public static func == (a: Self, b: Self) -> Bool {
        a.header == b.header && a.entries.elementsEqual(b.entries) { $0.tensor == $1.tensor && $0.scale.bitPattern == $1.scale.bitPattern }
    }

    public init(header: String, entries: [(tensor: String, scale: Float)]) {
        self.header = header
        self.entries = entries
    }

    /// "TRT-<NV_TENSORRT_VERSION>-<algorithm>" for a version "major.minor.patch".
    public static func header(tensorRTVersion: String, algorithm: String = "EntropyCalibration2") throws -> String {
        let parts = tensorRTVersion.split(separator: ".").map { Int($0) }
        guard (2...3).contains(parts.count), parts.allSatisfy({ $0 != nil && $0! >= 0 }) else {
            throw ExportError("--trt-version \(tensorRTVersion): expected major.minor.patch (e.g. 8.6.1 or 10.14.1)")
        }
        let major = parts[0]!, minor = parts[1]!, patch = parts.count > 2 ? parts[2]! : 0
        guard minor < 100, patch < 100 else { throw ExportError("--trt-version \(tensorRTVersion): minor/patch above 99") }
        let code = major >= 10 ? major * 10000 + minor * 100 + patch : major * 1000 + minor * 100 + patch
        return "TRT-\(code)-\(algorithm)"
    }

    /// The float32 bit pattern of `scale` in lowercase hex, as TensorRT writes it.
    public static func hex(_ scale: Float) -> String { String(scale.bitPattern, radix: 16) }

    /// Parses a hex field back (tests, and reading caches written by TensorRT).
    public static func scale(hex: String) -> Float? {
        UInt32(hex.trimmingCharacters(in: .whitespaces), radix: 16).map { Float(bitPattern: $0) }
    }

    /// The file contents (header, one line per entry, trailing newline).
    public var text: String {
        ([header] + entries.map { "\($0.tensor): \(Self.hex($0.scale))" }).joined(separator: "\n") + "\n"
    }

    /// Parses a cache text (header + "name: hex" lines).
    public init(parsing text: String) throws {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard let first = lines.first, first.hasPrefix("TRT-") else {
            throw ExportError("calibration cache: first line must be the TRT-<version>-<algorithm> header")
        }
        lines.removeFirst()
        header = first
        entries = try lines.map { line in
            guard let colon = line.lastIndex(of: ":"),
                  let s = Self.scale(hex: String(line[line.index(after: colon)...])) else {
                throw ExportError("calibration cache: bad line \"\(line)\"")
            }
            return (String(line[..<colon]), s)
        }
    }

    /// Tensors whose consumers disagreed, with every threshold seen (the cache holds the largest).
    public struct Merge: Sendable {
        public var tensor: String
        public var thresholds: [Float]
    }

    /// The cache for the activation quantizers of an exported graph: scale = T / 127 (TensorRT INT8 is
    /// signed, so an unsigned dqss activation becomes the signed range [−T, T]: one bit coarser than
    /// dqss's uint8 grid — use `dqss ptq --signed-activations` for an exact match).
    public static func build(points: [ExportedQuantizationPoint], header: String) throws
        -> (cache: TensorRTCalibrationCache, merged: [Merge]) {
        var order: [String] = []
        var thresholds: [String: [Float]] = [:]
        for p in points {
            guard let q = p.quantization else { throw ExportError("calibration cache: layer \(p.layer) is not quantized") }
            guard q.activation.bits == 8 else {
                throw ExportError("calibration cache: \(p.layer) input is \(q.activation.bits)-bit; TensorRT INT8 calibration is 8-bit only")
            }
            if thresholds[p.inputTensor] == nil { order.append(p.inputTensor) }
            thresholds[p.inputTensor, default: []].append(q.activation.threshold)
        }
        var merged: [Merge] = []
        let entries = order.map { t -> (tensor: String, scale: Float) in
            let ts = thresholds[t]!
            if Set(ts).count > 1 { merged.append(Merge(tensor: t, thresholds: ts)) }
            return (t, ts.max()! / 127)
        }
        return (TensorRTCalibrationCache(header: header, entries: entries), merged)
    }
}
