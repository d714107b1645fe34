// ModelError: a bad model request (unknown name, unreadable manifest). Thrown, never trapped on; the
// message names the model or file concerned.

import Foundation

public struct ModelError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}
