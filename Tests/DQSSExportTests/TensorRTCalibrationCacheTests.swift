import Foundation
import Testing
import DQSSExport

@Suite("TensorRT calibration cache")
struct TensorRTCalibrationCacheTests {
    static func point(_ layer: String, input: String, threshold: Float, unsigned: Bool = true, bits: Int = 8)
        -> ExportedQuantizationPoint {
        let q = LayerExportQuantization(name: layer,
                                        activation: TensorQuantization(bits: bits, isUnsigned: unsigned, threshold: threshold),
                                        weight: TensorQuantization(bits: 8, isUnsigned: false, threshold: 1))
        return ExportedQuantizationPoint(layer: layer, inputTensor: input, quantization: q)
    }

    @Test("writes the hand-made example byte for byte: header, then name: hex(float32 bits of T/127)")
    func handMadeExample() throws {
        // 2/127 = 0x3c810204 and 3.5/127 = 0x3ce1c387 as float32 (bit patterns computed by hand with
        // Python's struct.pack('<f', ...)); "s.shuffle" feeds two layers (T = 3 and 3.5): the larger wins.
        let points = [Self.point("conv1", input: "input", threshold: 2, unsigned: false),
                      Self.point("u.branch1.0", input: "s.shuffle", threshold: 3),
                      Self.point("u.branch2.0", input: "s.shuffle", threshold: 3.5)]
        let header = try TensorRTCalibrationCache.header(tensorRTVersion: "8.6.1")
        let (cache, merged) = try TensorRTCalibrationCache.build(points: points, header: header)
        #expect(cache.text == "TRT-8601-EntropyCalibration2\ninput: 3c810204\ns.shuffle: 3ce1c387\n")
        #expect(merged.count == 1 && merged[0].tensor == "s.shuffle" && merged[0].thresholds == [3, 3.5])
    }

    @Test("header codes: 8.6.1 -> 8601, 7.1.3 -> 7103, 10.14.1 -> 101401; bad versions are refused")
    func headers() throws {
        #expect(try TensorRTCalibrationCache.header(tensorRTVersion: "8.6.1") == "TRT-8601-EntropyCalibration2")
        #expect(try TensorRTCalibrationCache.header(tensorRTVersion: "7.1.3") == "TRT-7103-EntropyCalibration2")
        #expect(try TensorRTCalibrationCache.header(tensorRTVersion: "10.14.1") == "TRT-101401-EntropyCalibration2")
        #expect(throws: ExportError.self) { try TensorRTCalibrationCache.header(tensorRTVersion: "eight") }
        #expect(throws: ExportError.self) { try TensorRTCalibrationCache.header(tensorRTVersion: "8") }
    }

    @Test("hex is TensorRT's: lowercase, no 0x, 1.0 -> 3f800000, 0 -> 0; parsing round-trips")
    func hexRoundTrip() throws {
        #expect(TensorRTCalibrationCache.hex(1) == "3f800000")
        #expect(TensorRTCalibrationCache.hex(0.5) == "3f000000")
        #expect(TensorRTCalibrationCache.hex(0) == "0")
        // A cache as TensorRT 8.4 wrote it (public example), parsed back.
        let text = "TRT-8401-EntropyCalibration2\ninput: 3caa54fc\n(Unnamed Layer* 64) [Shuffle]_output: 0\n"
        let cache = try TensorRTCalibrationCache(parsing: text)
        #expect(cache.header == "TRT-8401-EntropyCalibration2")
        #expect(cache.entries.map(\.tensor) == ["input", "(Unnamed Layer* 64) [Shuffle]_output"])
        #expect(cache.entries[0].scale.bitPattern == 0x3caa54fc && cache.entries[1].scale == 0)
        #expect(cache.text == text)
    }

    @Test("refuses sub-8-bit activations and unquantized points")
    func refusals() throws {
        #expect(throws: ExportError.self) {
            try TensorRTCalibrationCache.build(points: [Self.point("c", input: "x", threshold: 1, bits: 4)], header: "TRT-8601-EntropyCalibration2")
        }
        let fp32 = ExportedQuantizationPoint(layer: "c", inputTensor: "x", quantization: nil)
        #expect(throws: ExportError.self) { try TensorRTCalibrationCache.build(points: [fp32], header: "TRT-8601-EntropyCalibration2") }
    }
}
