// JSONCoding: the one JSON setting of every document dqss writes and reads (assignment.json, search.json,
// sr-search.json, the thresholds file, the checkpoint summary, the --json reports). Keys are the Swift
// property names converted to snake_case by the encoder (`fp32Top1` -> "fp32_top1") and back by the
// decoder, so no document spells its keys by hand; dictionary keys (candidate labels, layer names) are
// left as they are. Keys sorted, slashes unescaped, non-finite floats as "inf", "-inf", "nan".
// Files are written atomically (temporary file + rename: a reader never sees half a document).

import Foundation

public enum JSONCoding {
    /// The encoder of every document: one line, or indented with `pretty` (files).
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    /// The decoder of every document (the encoder's inverse).
    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }
}

extension Encodable {
    /// This value as a JSON document (one line, or indented with `pretty`).
    public func jsonData(pretty: Bool = false) throws -> Data {
        try JSONCoding.encoder(pretty: pretty).encode(self)
    }

    /// This value as a JSON document in a string.
    public func jsonString(pretty: Bool = false) throws -> String {
        String(decoding: try jsonData(pretty: pretty), as: UTF8.self)
    }

    /// Write this value to `url` as an indented JSON document ending in a newline, atomically.
    /// - Throws: `AtomicFileError` naming the file (the previous file, if any, is left whole).
    public func writeJSON(to url: URL) throws {
        try AtomicFile.write(try jsonData(pretty: true) + Data("\n".utf8), to: url)
    }

    /// Print this value on stdout as one line of JSON.
    public func printJSON() throws {
        print(try jsonString())
    }
}

extension Decodable {
    /// The document in `data`.
    public static func decodeJSON(_ data: Data) throws -> Self {
        try JSONCoding.decoder().decode(Self.self, from: data)
    }
}
