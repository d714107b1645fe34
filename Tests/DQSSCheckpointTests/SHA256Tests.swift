import Foundation
import Testing
import DQSSCheckpoint

@Suite("SHA-256")
struct SHA256Tests {
    static func hex(_ d: [UInt8]) -> String { d.map { String(format: "%02x", $0) }.joined() }

    @Test("NIST FIPS 180-4 example vectors: \"abc\", the empty string, the 448-bit message, one million 'a'")
    func nistVectors() {
        #expect(Self.hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Self.hex(SHA256.hash([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Self.hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(Self.hex(SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000)))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("lengths around the 56- and 64-byte padding edges match Python's hashlib")
    func paddingEdges() {
        let expected: [Int: String] = [
            55: "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
            56: "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
            57: "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6",
            63: "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34",
            64: "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
            65: "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0",
            119: "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb",
            120: "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c",
        ]
        for (n, digest) in expected { #expect(Self.hex(SHA256.hash([UInt8](repeating: 0x61, count: n))) == digest, "\(n) x 'a'") }
    }

    @Test("streaming in uneven pieces gives the one-shot digest, at every length around the 56/64-byte padding edges")
    func streaming() {
        var rng = SystemRandomNumberGenerator()
        for length in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var s = SHA256()
            var i = 0
            while i < bytes.count {
                let n = min(bytes.count - i, Int.random(in: 1...70, using: &rng))
                s.update(Array(bytes[i..<(i + n)]))
                i += n
            }
            #expect(s.finalize() == SHA256.hash(bytes), "length \(length)")
        }
    }
}
