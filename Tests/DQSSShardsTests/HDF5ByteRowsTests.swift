import Foundation
import Testing
import DQSSHDF5

@Suite("HDF5 byte rows")
struct HDF5ByteRowsTests {
    @Test("rows appended in pieces read back by any range, after reopening; out-of-range rows and other types refused")
    func roundTrip() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("rows.h5")
        let all = (0..<(7 * 2 * 3)).map { UInt8(($0 * 29) % 256) }
        do {
            let f = try HDF5File.create(url)
            let rows = try f.root().createByteRows("x", shape: [0, 2, 3])
            try all[0..<18].withUnsafeBytes { try rows.append($0) }     // 3 rows
            try all[18...].withUnsafeBytes { try rows.append($0) }      // 4 more
            #expect(rows.shape == [7, 2, 3])
            try f.root().write("f", .float32([1, 2]))
            try f.close()
        }
        let f = try HDF5File.open(url)
        let rows = try f.root().byteRows("x")
        #expect(rows.shape == [7, 2, 3] && rows.rowBytes == 6)
        #expect(try rows.read(rows: 0..<7) == all)
        #expect(try rows.read(rows: 2..<5) == Array(all[12..<30]))
        do { _ = try rows.read(rows: 5..<8); Issue.record("read past the end") } catch {
            #expect("\(error)".contains(url.path) && "\(error)".contains("outside 0..<7"), "\(error)")
        }
        do { _ = try f.root().byteRows("f"); Issue.record("opened float32 as bytes") } catch {
            #expect("\(error)".contains("holds float32, expected uint8"), "\(error)")
        }
    }
}
