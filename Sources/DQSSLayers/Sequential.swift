// Sequential: runs children in order; backward runs them in reverse.
// Children are named "0", "1", ... unless names are given (PyTorch nn.Sequential / OrderedDict).
// A BackwardObserver, when set, hears of each child whose backward has returned.

import DQSSTensor

public final class Sequential: UnaryLayer, BackwardObservable {
    public private(set) var layers: [(name: String, layer: any UnaryLayer)]
    public var isTraining = false
    /// Told after each child's backward (gradient buckets reduced while backward goes on).
    public weak var backwardObserver: (any BackwardObserver)?

    public init(_ layers: [any UnaryLayer]) {
        self.layers = layers.enumerated().map { (name: String($0.offset), layer: $0.element) }
    }

    public init(named layers: [(String, any UnaryLayer)]) {
        self.layers = layers.map { (name: $0.0, layer: $0.1) }
    }

    public func append(_ layer: any UnaryLayer, name: String? = nil) {
        layers.append((name: name ?? String(layers.count), layer: layer))
    }

    public var children: [(name: String, layer: any Layer)] { layers.map { (name: $0.name, layer: $0.layer) } }

    public func forward(_ x: Tensor) -> Tensor {
        var y = x
        for l in layers { y = l.layer.forward(y) }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        var g = gradOutput
        for l in layers.reversed() {
            g = l.layer.backward(g)
            backwardObserver?.backwardFinished(l.layer)
        }
        return g
    }
}
