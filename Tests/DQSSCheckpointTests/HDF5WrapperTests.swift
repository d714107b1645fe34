import Foundation
import Testing
import _TestSupport
import DQSSCheckpoint

@Suite("HDF5 wrapper")
struct HDF5WrapperTests {
    @Test("float32/float64/int64/uint64 arrays round-trip bit for bit with their shapes, scalars and empties included")
    func numericRoundTrip() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("a.h5")
        let arrays: [(String, HDF5Array)] = [
            ("w", .float32([1.5, -0.0, .infinity, .leastNonzeroMagnitude, 3, 4], shape: [2, 3])),
            ("nan", .float32([Float(bitPattern: 0x7FC0_1234)], shape: [])),
            ("d", .float64([Double.pi, -1e300], shape: [2, 1])),
            ("i", .int64([Int64.min, -1, 0, Int64.max])),
            ("u", .uint64([UInt64.max, 0, 0x9E37_79B9_7F4A_7C15, 1], shape: [4])),
            ("empty", .float32([], shape: [0, 3])),
        ]
        do {
            let f = try HDF5File.create(url)
            let root = try f.root()
            let g = try root.createGroup("model")
            for (n, a) in arrays { try g.write(n, a) }
            try f.flush()
            try f.close()
        }
        let f = try HDF5File.open(url)
        let g = try f.root().group("model")
        #expect(try g.childNames() == arrays.map(\.0))   // creation order, not name order
        for (n, a) in arrays {
            let b = try g.read(n)
            #expect(b.bitwiseEqual(a), "\(n): \(b) vs \(a)")
        }
    }

    @Test("string attributes (UTF-8), integer and float attributes, and string arrays round-trip")
    func stringsAndAttributes() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("s.h5")
        do {
            let f = try HDF5File.create(url)
            let root = try f.root()
            try root.setAttribute("format", "dqss-checkpoint")
            try root.setAttribute("config", #"{"lr":0.001,"name":"θ α β — ünïcode"}"#)
            try root.setAttribute("version", Int64(7))
            try root.setAttribute("time", 0.1)
            try root.setAttribute("version", Int64(8))   // replaced, not duplicated
            try root.writeStrings("names", ["Max_Abs", "", "EQ", "θ"])
            try root.writeStrings("none", [])
            try f.close()
        }
        let root = try HDF5File.open(url).root()
        #expect(try root.stringAttribute("format") == "dqss-checkpoint")
        #expect(try root.stringAttribute("config") == #"{"lr":0.001,"name":"θ α β — ünïcode"}"#)
        #expect(try root.int64Attribute("version") == 8)
        #expect(try root.doubleAttribute("time") == 0.1)
        #expect(try root.readStrings("names") == ["Max_Abs", "", "EQ", "θ"])
        #expect(try root.readStrings("none") == [])
        #expect(!root.hasAttribute("missing"))
    }

    @Test("errors name the file and the object: missing dataset, wrong element type, wrong shape, missing attribute")
    func errorsNameFileAndObject() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("e.h5")
        do {
            let f = try HDF5File.create(url)
            let g = try f.root().createGroup("model")
            try g.write("conv1.weight", .float64([1, 2]))
            try g.writeStrings("names", ["a"])
            try f.close()
        }
        let g = try HDF5File.open(url).root().group("model")
        let missing = #expect(throws: HDF5Error.self) { try g.read("fc.weight") }
        #expect(missing?.description.contains(url.path) == true)
        #expect(missing?.description.contains("/model/fc.weight") == true)
        #expect(missing?.description.contains("missing dataset") == true)
        let wrongType = #expect(throws: HDF5Error.self) { try g.read("conv1.weight", type: "float32") }
        #expect(wrongType?.description.contains("/model/conv1.weight") == true)
        #expect(wrongType?.description.contains("holds float64, expected float32") == true)
        let wrongShape = #expect(throws: HDF5Error.self) { try g.read("conv1.weight", type: "float64", shape: [3]) }
        #expect(wrongShape?.description.contains("shape [2], expected [3]") == true)
        let notNumbers = #expect(throws: HDF5Error.self) { try g.read("names") }
        #expect(notNumbers?.description.contains("holds string") == true)
        let attr = #expect(throws: HDF5Error.self) { try g.stringAttribute("format") }
        #expect(attr?.description.contains("missing attribute") == true)
        #expect(throws: HDF5Error.self) { try HDF5File.open(url).root().group("optimizer") }
    }

    @Test("a missing file, a non-HDF5 file and a truncated file are refused with the file's name")
    func unreadableFiles() throws {
        let dir = TemporaryDirectory()
        let none = #expect(throws: HDF5Error.self) { try HDF5File.open(dir.file("nope.h5")) }
        #expect(none?.description.contains("nope.h5") == true && none?.detail == "no such file")
        let text = dir.file("text.h5")
        try Data("not an hdf5 file at all".utf8).write(to: text)
        let notHDF5 = #expect(throws: HDF5Error.self) { try HDF5File.open(text) }
        #expect(notHDF5?.description.contains("text.h5") == true)
        #expect(notHDF5?.detail.contains("not a readable HDF5 file") == true)

        let full = dir.file("full.h5")
        do {
            let f = try HDF5File.create(full)
            try f.root().write("x", .float32([Float](repeating: 1, count: 4096)))
            try f.close()
        }
        let bytes = try Data(contentsOf: full)
        let cut = dir.file("cut.h5")
        try bytes.prefix(bytes.count / 2).write(to: cut)
        let truncated = #expect(throws: HDF5Error.self) {
            let f = try HDF5File.open(cut)
            _ = try f.root().read("x")
        }
        #expect(truncated?.description.contains("cut.h5") == true)
    }

    @Test("a flipped byte in a dataset's data is detected by the checksum on read")
    func corruptedData() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("c.h5")
        let values = (0..<1000).map { Float($0) * 0.5 + 1 }
        do {
            let f = try HDF5File.create(url)
            try f.root().write("x", .float32(values))
            try f.close()
        }
        var bytes = try Data(contentsOf: url)
        // Find the raw data (1000 floats stored contiguously) and flip one bit in the middle.
        let needle = values[500...503].withUnsafeBytes { Data($0) }
        let at = try #require(bytes.range(of: needle)).lowerBound
        bytes[at] ^= 0x01
        try bytes.write(to: url)
        let e = #expect(throws: HDF5Error.self) { try HDF5File.open(url).root().read("x") }
        #expect(e?.description.contains("/x") == true)
    }

    @Test("deleting a link, and refusing names with '/'")
    func deleteAndNames() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("d.h5")
        do {
            let f = try HDF5File.create(url)
            let root = try f.root()
            try root.write("a", .int64([1]))
            try root.write("b", .int64([2]))
            #expect(throws: HDF5Error.self) { try root.write("x/y", .int64([1])) }
            try f.close()
        }
        do {
            let f = try HDF5File.open(url, writable: true)
            try f.root().delete("a")
            try f.close()
        }
        let root = try HDF5File.open(url).root()
        #expect(try root.childNames() == ["b"])
        #expect(!root.contains("a"))
    }
}
