// Writing to stderr without Foundation's FileHandle buffering surprises (one write(2) per message), and
// progress that reads well both on a terminal and in a log file.
//
// On a terminal, a progress update that starts with "\r" rewrites the current line (and "\u{1B}[K" erases
// its rest). Redirected to a file or pipe (`dqss demo 2>log`, a Slurm output file), the same updates would
// pile up as one endless line of carriage returns and escape codes, so there they become plain lines: an
// in-place update is written at most once every `fileInterval` seconds, and one that ends a sequence
// (it ends with "\n") always.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

func writeStandardError(_ text: String) {
    var t = text
    t.withUTF8 { b in _ = write(2, b.baseAddress, b.count) }
}

/// Progress text on stderr, terminal-aware (see the file comment).
public enum StandardErrorProgress {
    /// Seconds between two in-place updates written as lines when stderr is not a terminal.
    public static let fileInterval: Double = 5

    /// Whether stderr is a terminal (decided once per process).
    public static let isTerminal: Bool = isatty(2) == 1

    // The time of the last in-place update written as a line; one process-wide stream, so one clock.
    private static let lock = NSLock()
    nonisolated(unsafe) private static var lastLine = -Double.infinity
    // The last in-place update skipped by the rate limit: written when its sequence ends with a lone "\n",
    // so a log file still gets the final state ("932/932 images").
    nonisolated(unsafe) private static var pending: String?

    /// Write `text`: unchanged on a terminal; otherwise as plain lines at a steady rate.
    public static func write(_ text: String) {
        if isTerminal { writeStandardError(text); return }
        guard let line = plain(text, now: ProcessInfo.processInfo.systemUptime) else { return }
        writeStandardError(line)
    }

    /// The plain form of `text` for a file, or nil when this in-place update is skipped (rate limit).
    public static func plain(_ text: String, now: Double) -> String? {
        let inPlace = text.hasPrefix("\r")
        var s = text.replacingOccurrences(of: "\u{1B}[K", with: "")
        s = s.split(separator: "\r", omittingEmptySubsequences: true).last.map(String.init) ?? ""
        let ends = s.hasSuffix("\n")
        lock.lock(); defer { lock.unlock() }
        if s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            defer { pending = nil }
            return text.contains("\n") ? pending.map { $0 + "\n" } : nil
        }
        if inPlace && !ends {
            if now - lastLine < fileInterval { pending = s; return nil }
            lastLine = now
        }
        pending = nil
        return ends ? s : s + "\n"
    }
}
