// FaultInjection: a hidden switch for the failure tests of the data-parallel job.
//
//     DQSS_INJECT_FAULT=shard@1   rank 1 fails to read its data shard (a thrown error)
//     DQSS_INJECT_FAULT=nan@1     rank 1 feeds a NaN into the search (a non-finite loss is detected)
//
// Read by the executables only (never by the library code paths), and only to prove that a failing
// rank takes the whole job down with a message naming it, instead of leaving the others hanging.

public struct FaultInjection: Sendable, Equatable {
    public enum Kind: String, Sendable { case shard, nan }
    public let kind: Kind
    public let rank: Int

    public init(kind: Kind, rank: Int) {
        self.kind = kind
        self.rank = rank
    }

    /// Parses DQSS_INJECT_FAULT ("KIND@RANK"); nil when unset or malformed.
    public static func fromEnvironment(_ environment: [String: String]) -> FaultInjection? {
        guard let v = environment["DQSS_INJECT_FAULT"] else { return nil }
        let parts = v.split(separator: "@")
        guard parts.count == 2, let k = Kind(rawValue: String(parts[0])), let r = Int(parts[1]), r >= 0 else { return nil }
        return FaultInjection(kind: k, rank: r)
    }

    /// True when `kind` is injected on `rank`.
    public func applies(_ kind: Kind, rank: Int) -> Bool { self.kind == kind && self.rank == rank }
}
