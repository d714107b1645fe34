// SingleProcess: the one-rank communicator (no MPI at all). Every collective is the identity, which is
// what MPI returns for a job of size 1, so code written against `Communicator` runs unchanged.

import Foundation

public final class SingleProcess: Communicator {
    public init() {}

    public var rank: Int { 0 }
    public var size: Int { 1 }

    public func allreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, _ op: ReduceOperation) {}
    public func allreduce(_ buffer: UnsafeMutablePointer<Double>, count: Int, _ op: ReduceOperation) {}
    public func allreduce(_ buffer: UnsafeMutablePointer<Int64>, count: Int, _ op: ReduceOperation) {}
    public func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int) {
        precondition(root == 0, "broadcast from rank \(root) in a single-process job")
    }
    public func allgather(_ values: [Double]) -> [[Double]] { [values] }
    public func barrier() {}

    public func abort(code: Int32, message: String) -> Never {
        FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
        exit(code == 0 ? 1 : code)
    }
}
