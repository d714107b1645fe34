// BatchGradientReducer: the step between backward and the optimizer in data-parallel training and search.
//
// Every rank computes the gradient of the MEAN loss over its own n_r samples of a global batch of
// N = Σ_r n_r samples (N = per-rank batch × ranks when the batch splits evenly). The gradient of the mean
// loss over the global batch is
//
//     g = Σ_r (n_r / N) · g_r
//
// so each rank scales its gradient by n_r / N and the ranks sum (one allreduce per bucket). Afterwards
// every rank holds the same g, and identical optimizer steps keep the replicas identical. With one rank
// (n_0 = N) the scale is exactly 1 and nothing moves.

import DQSSTensor
import DQSSLayers

public protocol BatchGradientReducer: AnyObject {
    var communicator: any Communicator { get }
    /// g ← Σ_r (n_r / N) g_r for every parameter with `requiresGrad`; every rank must call it with the
    /// same parameter list (same order, same shapes). `localCount` n_r may be 0 (the rank's gradient is
    /// then ignored); `globalCount` N must be the same on every rank and > 0.
    func averageGradients(_ parameters: [Parameter], localCount: Int, globalCount: Int)
}

extension BatchGradientReducer {
    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }

    /// Σ_r localSum over ranks (losses, correct counts): one small allreduce.
    public func sum(_ localSums: [Double]) -> [Double] {
        var v = localSums
        communicator.allreduce(&v, .sum)
        return v
    }

    /// Copy rank `root`'s parameter values to every rank (start every replica from the same point).
    public func broadcastValues(_ parameters: [Parameter], root: Int = 0) {
        for p in parameters {
            communicator.broadcast(UnsafeMutableRawPointer(p.value.data), bytes: p.value.count * 4, root: root)
        }
    }
}

/// The single-process reducer: scales by n / N (exactly 1 when the rank holds the whole batch).
public final class LocalGradientReducer: BatchGradientReducer {
    public let communicator: any Communicator = SingleProcess()
    public init() {}

    public func averageGradients(_ parameters: [Parameter], localCount: Int, globalCount: Int) {
        precondition(globalCount > 0 && localCount >= 0, "bad batch counts \(localCount) of \(globalCount)")
        if localCount == globalCount { return }
        let s = Float(localCount) / Float(globalCount)
        for p in parameters where p.requiresGrad { p.grad.scale(by: s) }
    }
}
