// DQSSDataError: the one error type of DQSSData. Every message names the file (and the tensor, split or
// record) it is about, so that a user who passes a wrong path or a damaged file knows what to fix.

import Foundation

/// A bad file or a bad request (unknown tensor, unknown split, truncated data). Thrown, never trapped on.
public struct DQSSDataError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
    public var errorDescription: String? { message }
}

/// The short name used in messages: the last path component is usually enough, the full path is kept
/// because a user may hold several files with the same name.
@inline(__always)
func displayName(_ url: URL) -> String { url.path }
