import Foundation
import Testing
import DQSSData
import DQSSTensor

/// Build a safetensors file by hand: 8-byte LE header length, the header text, the data bytes.
func handMadeSafetensors(header: String, data: [UInt8]) -> Data {
    var d = Data()
    let h = Data(header.utf8)
    withUnsafeBytes(of: UInt64(h.count).littleEndian) { d.append(contentsOf: $0) }
    d.append(h)
    d.append(contentsOf: data)
    return d
}

func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

/// Expect `body` to throw a DQSSDataError whose message contains every string in `fragments`.
func expectDataError(_ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an error mentioning \(fragments)", sourceLocation: sourceLocation)
    } catch let e as DQSSDataError {
        for f in fragments where !e.message.contains(f) {
            Issue.record("error \"\(e.message)\" does not mention \"\(f)\"", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("Safetensors")
struct SafetensorsTests {
    @Test("float32 write/read round trip keeps names, order, shapes, values and metadata")
    func roundTrip() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let a = Tensor(shape: [2, 3], values: [1, -2, 3.5, 0, 1e-8, -7e20])
        let b = Tensor(shape: [4], values: [0.1, 0.2, 0.3, 0.4])
        let s = Tensor(shape: [], values: [42])
        let url = dir.file("rt.safetensors")
        try SafetensorsWriter.write([("z.weight", a), ("a.bias", b), ("scalar", s)],
                                    metadata: ["format": "pt", "note": "quote \" and \\ here"], to: url)
        let f = try SafetensorsFile(contentsOf: url)
        #expect(f.names == ["z.weight", "a.bias", "scalar"])
        #expect(f.metadata == ["format": "pt", "note": "quote \" and \\ here"])
        #expect(try f.tensor(named: "z.weight").array == a.array)
        #expect(try f.tensor(named: "z.weight").shape == [2, 3])
        #expect(try f.tensor(named: "a.bias").array == b.array)
        #expect(try f.tensor(named: "scalar").shape == [])
        #expect(try f.tensor(named: "scalar").array == [42])
        #expect(f.info(named: "a.bias")?.dtype == .f32)
        // Header is padded so the data area starts 8-byte aligned; the output is deterministic.
        let bytes = try Data(contentsOf: url)
        let n = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(n % 8 == 0)
        let url2 = dir.file("rt2.safetensors")
        try SafetensorsWriter.write([("z.weight", a), ("a.bias", b), ("scalar", s)],
                                    metadata: ["note": "quote \" and \\ here", "format": "pt"], to: url2)
        #expect(try Data(contentsOf: url2) == bytes)
    }

    @Test("every dtype converts to float32 exactly (hand-built bytes with known values)")
    func dtypes() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        // F16: 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal), +inf, 0x3555 = 0.333251953125
        let f16: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x3555]
        // BF16: 1.0, -3.0, 0x4049 = 3.140625
        let bf16: [UInt16] = [0x3F80, 0xC040, 0x4049]
        let f64: [Double] = [1.5, -0.25]
        let i64: [Int64] = [-7, 1 << 40]
        let i32: [Int32] = [5, -6]
        var data: [UInt8] = []
        f16.forEach { data += le($0) }            // 0..<12
        bf16.forEach { data += le($0) }           // 12..<18
        f64.forEach { data += le($0.bitPattern) } // 18..<34
        i64.forEach { data += le($0) }            // 34..<50
        i32.forEach { data += le($0) }            // 50..<58
        data += [0, 255]                          // U8 58..<60
        data += [0, 1, 1]                         // BOOL 60..<63
        let header = """
        {"h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},
         "b":{"dtype":"BF16","shape":[3],"data_offsets":[12,18]},
         "d":{"dtype":"F64","shape":[2],"data_offsets":[18,34]},
         "l":{"dtype":"I64","shape":[2],"data_offsets":[34,50]},
         "i":{"dtype":"I32","shape":[2],"data_offsets":[50,58]},
         "u":{"dtype":"U8","shape":[2],"data_offsets":[58,60]},
         "t":{"dtype":"BOOL","shape":[3],"data_offsets":[60,63]},
         "__metadata__":{"format":"pt"}}
        """
        let url = dir.file("dtypes.safetensors")
        try handMadeSafetensors(header: header, data: data).write(to: url)
        let f = try SafetensorsFile(contentsOf: url)
        #expect(f.names == ["h", "b", "d", "l", "i", "u", "t"])
        #expect(try f.tensor(named: "h").array == [1, -2, 65504, 0x1p-24, .infinity, 0.333251953125])
        #expect(try f.tensor(named: "h").shape == [2, 3])
        #expect(try f.tensor(named: "b").array == [1, -3, 3.140625])
        #expect(try f.tensor(named: "d").array == [1.5, -0.25])
        #expect(try f.tensor(named: "l").array == [-7, 1_099_511_627_776])
        #expect(try f.tensor(named: "i").array == [5, -6])
        #expect(try f.tensor(named: "u").array == [0, 255])
        #expect(try f.tensor(named: "t").array == [0, 1, 1])
        #expect(f.info(named: "h")?.dtype == .f16)
        #expect(f.info(named: "l")?.dtype == .i64)
        #expect(try f.rawBytes(named: "l") == Data(le(Int64(-7)) + le(Int64(1 << 40))))
        #expect(f.metadata == ["format": "pt"])
    }

    @Test("float16 conversion agrees with the platform's Float16 on all 65536 bit patterns")
    func float16Exhaustive() {
        for bits in 0...UInt16.max {
            let ours = float16ToFloat(bits)
            let ref = Float(Float16(bitPattern: bits))
            #expect(ours.bitPattern == ref.bitPattern || (ours.isNaN && ref.isNaN))
        }
    }

    @Test("int64 writer entries read back")
    func int64Writer() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let url = dir.file("i.safetensors")
        try SafetensorsWriter.write(entries: [.int64("bn.num_batches_tracked", shape: [], [12345]),
                                              .float32("w", Tensor(shape: [1], values: [2]))], to: url)
        let f = try SafetensorsFile(contentsOf: url)
        #expect(f.info(named: "bn.num_batches_tracked")?.dtype == .i64)
        #expect(try f.tensor(named: "bn.num_batches_tracked").array == [12345])
        #expect(try f.tensor(named: "w").array == [2])
    }

    @Test("corrupt headers give clear errors naming the file and tensor")
    func corruptHeaders() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        func check(_ header: String, data: [UInt8] = [0, 0, 0, 0], _ fragments: [String]) throws {
            let url = dir.file("bad.safetensors")
            try handMadeSafetensors(header: header, data: data).write(to: url)
            expectDataError([url.path] + fragments) { _ = try SafetensorsFile(contentsOf: url) }
        }
        try check("{\"w\":{\"dtype\":\"F32\",", ["not valid JSON"])
        try check("[1,2]", ["not an object"])
        try check("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", ["\"w\"", "needs 2 x 4 = 8 bytes"])
        try check("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", ["\"w\"", "outside the 4 data bytes"])
        try check("{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", ["\"w\"", "unsupported dtype \"Q4\""])
        try check("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", ["\"w\"", "shape"])
        try check("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", ["\"w\"", "data_offsets"])
        try check("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", ["\"w\""])
        try check("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[2,4]}}",
                  ["overlaps"])
        try check("{\"__metadata__\":{\"k\":3}}", ["__metadata__"])
        try check("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", ["\"w\"", "shape"])
    }

    @Test("header length beyond the file, short files and missing files are errors")
    func badLengths() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let url = dir.file("len.safetensors")
        var d = Data(le(UInt64(1000)))
        d.append(Data("{}".utf8))
        try d.write(to: url)
        expectDataError([url.path, "header length 1000"]) { _ = try SafetensorsFile(contentsOf: url) }
        try Data([1, 2, 3]).write(to: url)
        expectDataError([url.path, "shorter than the 8-byte"]) { _ = try SafetensorsFile(contentsOf: url) }
        try Data(le(UInt64.max)).write(to: url)
        expectDataError([url.path, "header length"]) { _ = try SafetensorsFile(contentsOf: url) }
        let missing = dir.file("nope.safetensors")
        expectDataError([missing.path, "cannot read"]) { _ = try SafetensorsFile(contentsOf: missing) }
        // An empty, valid file: no tensors.
        try handMadeSafetensors(header: "{}", data: []).write(to: url)
        #expect(try SafetensorsFile(contentsOf: url).names.isEmpty)
        expectDataError([url.path, "no tensor named \"x\""]) { _ = try SafetensorsFile(contentsOf: url).tensor(named: "x") }
    }

    @Test("the real ResNet-20 checkpoint reads: 97 float32 tensors, known shapes and values",
          .enabled(if: SharedData.exists(SharedData.resnet20), "shared datasets absent"))
    func realResNet20() throws {
        let f = try SafetensorsFile(contentsOf: SharedData.url(SharedData.resnet20))
        #expect(f.names.count == 97)
        #expect(f.names.first == "module.conv1.weight")
        #expect(f.info(named: "module.conv1.weight")?.shape == [16, 3, 3, 3])
        #expect(f.info(named: "module.layer3.2.bn2.running_var")?.shape == [64])
        #expect(f.info(named: "module.linear.weight")?.shape == [10, 64])
        #expect(f.metadata["arch"] == "resnet20")
        // Values read independently with Python's struct module.
        let bias = try f.tensor(named: "module.linear.bias").array
        #expect(bias[0] == 0.19355906546115875 && bias[1] == -0.3431008756160736 && bias[9] == -0.27025941014289856)
        #expect(Array(try f.tensor(named: "module.conv1.weight").array.prefix(3)) == [-0.13818146288394928, -0.1624176800251007, 0.8207383155822754])
    }

    @Test("truncated copies of the real checkpoint are errors, never crashes",
          .enabled(if: SharedData.exists(SharedData.resnet20), "shared datasets absent"))
    func truncatedReal() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let bytes = try Data(contentsOf: SharedData.url(SharedData.resnet20))
        let url = dir.file("cut.safetensors")
        // Cut in the data area (last tensor), in the header, inside the length field, and 1 byte short.
        for cut in [bytes.count / 2, 5000, 4, bytes.count - 1] {
            try bytes.prefix(cut).write(to: url)
            do {
                _ = try SafetensorsFile(contentsOf: url)
                Issue.record("truncation at \(cut) bytes was accepted")
            } catch let e as DQSSDataError {
                #expect(e.message.contains(url.path))
            }
        }
        try bytes.prefix(bytes.count / 2).write(to: url)
        expectDataError(["outside the", "truncated"]) { _ = try SafetensorsFile(contentsOf: url) }
    }
}
