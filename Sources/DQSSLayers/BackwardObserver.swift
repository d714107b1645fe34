// BackwardObserver: told, during a backward pass, when a child of a Sequential has finished its backward.
//
// Why: data-parallel training can start reducing a bucket of gradients as soon as every parameter in it
// is final, while backward still runs through the earlier layers (PyTorch DDP's autograd hooks). In dqss
// every network is a tree of Sequentials (SequentialModel's body, ResNet stages) whose backward runs
// children in reverse; once a child's backward has returned, the gradients of every parameter in that
// child's subtree are final for this pass — unless a parameter also lives in another subtree (tied
// weights), which the observer must check for itself (BucketedGradientReducer does).

public protocol BackwardObserver: AnyObject {
    /// `layer`'s backward (a child of a Sequential) has returned.
    func backwardFinished(_ layer: any Layer)
}

/// A layer that reports its children's finished backward passes (Sequential, and models built on one).
public protocol BackwardObservable: AnyObject {
    var backwardObserver: (any BackwardObserver)? { get set }
}

extension Layer {
    /// Sets (or, with nil, removes) `observer` on every Sequential in this tree, self included. The
    /// reference is weak: the observer's owner keeps it alive.
    public func setBackwardObserver(_ observer: (any BackwardObserver)?) {
        for (_, layer) in namedLayers() {
            if let o = layer as? any BackwardObservable { o.backwardObserver = observer }
        }
    }
}
