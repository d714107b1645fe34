// ExportError: what `dqss export` refuses, with a message naming the file, layer or tensor at fault.

public struct ExportError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}
