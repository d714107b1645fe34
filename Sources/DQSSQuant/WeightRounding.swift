// WeightRounding: a learned rounding direction per weight (AdaRound, AdaRound.swift), the one thing that
// makes a weight branch more than a threshold. With it the §1 quantizer rounds each weight up or down as
// the mask says instead of to the nearest grid point:
//
//     w_q = clamp(⌊w / s⌋ + up_i, q_min, q_max),   ŵ = s · w_q           (s = T / q_max as in §1)
//
// so a rounded branch is (threshold(s), mask), and export writes those integers. Round-to-nearest is the
// mask up_i = [w/s − ⌊w/s⌋ ≥ ½] (ties aside), which `nearest` builds. The mask is one byte per weight in
// memory and one bit per weight in files (base64, "up"), so assignment.json and checkpoints stay small
// (ResNet-20: 270k weights, 34 KB).

import Foundation
import DQSSTensor

public struct WeightRounding: Sendable, Equatable {
    /// 1: w_q = ⌊w/s⌋ + 1 (rounded up), 0: ⌊w/s⌋ (down), one per element of the weight in memory order.
    public var up: [UInt8]

    public init(up: [UInt8]) { self.up = up }

    public var count: Int { up.count }

    /// The mask that reproduces round-to-nearest of `w` with threshold(s) `thresholds` (one, or one per
    /// output channel): up where the fractional part of w/s is above ½ (half to even at exactly ½).
    public static func nearest(_ w: Tensor, quantizer: UniformQuantizer, thresholds: [Float]) -> WeightRounding {
        var up = [UInt8](repeating: 0, count: w.count)
        forEachElement(w, quantizer: quantizer, thresholds: thresholds) { i, v, s in
            let r = (v / s).rounded(.toNearestOrEven)
            up[i] = r > (v / s).rounded(.down) ? 1 : 0
        }
        return WeightRounding(up: up)
    }

    /// Calls body(index, w_i, s of its slice) for every element, the slices being the output channels when
    /// there is one threshold per channel. Degenerate thresholds (an all-zero slice) are skipped.
    static func forEachElement(_ w: Tensor, quantizer: UniformQuantizer, thresholds: [Float],
                               _ body: (Int, Float, Float) -> Void) {
        let slices = max(thresholds.count, 1), per = w.count / slices
        for c in 0..<slices where !UniformQuantizer.isDegenerate(thresholds[c]) {
            let s = quantizer.scale(threshold: thresholds[c])
            for e in 0..<per { body(c * per + e, w.data[c * per + e], s) }
        }
    }

    /// ŵ = s · clamp(⌊w/s⌋ + up, q_min, q_max) of `count` values starting at element `offset` of the mask
    /// (0 under the all-zero guard). `src` and `dst` may alias.
    public func fakeQuantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int,
                             offset: Int, threshold: Float, quantizer: UniformQuantizer) {
        precondition(offset + count <= up.count, "WeightRounding: \(up.count) rounding bits for elements \(offset) ..< \(offset + count)")
        if UniformQuantizer.isDegenerate(threshold) {
            dst.update(repeating: 0, count: count)
            return
        }
        let s = quantizer.scale(threshold: threshold)
        let lo = Float(quantizer.qmin), hi = Float(quantizer.qmax)
        up.withUnsafeBufferPointer { u in
            for i in 0..<count {
                let q = min(max((src[i] / s).rounded(.down) + Float(u[offset + i]), lo), hi)
                dst[i] = s * q
            }
        }
    }

    /// The integer codes w_q of `w` with the threshold(s) (one, or one per output channel).
    public func codes(_ w: Tensor, quantizer: UniformQuantizer, thresholds: [Float]) -> [Int32] {
        precondition(w.count == up.count, "WeightRounding: \(up.count) rounding bits for a weight of \(w.count)")
        var out = [Int32](repeating: 0, count: w.count)
        let lo = Float(quantizer.qmin), hi = Float(quantizer.qmax)
        Self.forEachElement(w, quantizer: quantizer, thresholds: thresholds) { i, v, s in
            out[i] = Int32(min(max((v / s).rounded(.down) + Float(up[i]), lo), hi))
        }
        return out
    }

    /// How many weights the mask rounds the other way from round-to-nearest.
    public func flips(from w: Tensor, quantizer: UniformQuantizer, thresholds: [Float]) -> Int {
        let n = Self.nearest(w, quantizer: quantizer, thresholds: thresholds)
        return zip(up, n.up).reduce(0) { $0 + ($1.0 != $1.1 ? 1 : 0) }
    }
}

/// In files: {"count": n, "up": base64 of the bits packed little-endian, 8 per byte}.
extension WeightRounding: Codable {
    enum CodingKeys: String, CodingKey { case count, up }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let count = try c.decode(Int.self, forKey: .count)
        let text = try c.decode(String.self, forKey: .up)
        guard count >= 0, let packed = Data(base64Encoded: text), packed.count == (count + 7) / 8 else {
            throw DecodingError.dataCorruptedError(forKey: .up, in: c, debugDescription:
                "weight rounding: 'up' is not base64 of \((count + 7) / 8) bytes for \(count) weights")
        }
        self.init(packed: [UInt8](packed), count: count)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(count, forKey: .count)
        try c.encode(Data(packed).base64EncodedString(), forKey: .up)
    }

    /// The bits, 8 per byte, element i in bit (i mod 8) of byte i / 8.
    public var packed: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: (up.count + 7) / 8)
        for (i, b) in up.enumerated() where b != 0 { bytes[i >> 3] |= 1 << UInt8(i & 7) }
        return bytes
    }

    public init(packed: [UInt8], count: Int) {
        precondition(packed.count >= (count + 7) / 8, "WeightRounding: \(packed.count) bytes for \(count) bits")
        up = (0..<count).map { (packed[$0 >> 3] >> UInt8($0 & 7)) & 1 }
    }
}
