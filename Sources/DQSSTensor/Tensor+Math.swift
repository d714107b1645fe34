// Small reductions and element-wise helpers used by layers, optimizers and tests.
// Hot element-wise loops of layers live in the layers themselves; these are conveniences.

extension Tensor {
    /// Sum of all elements, accumulated in Double (order-stable).
    public func sum() -> Double {
        var s = 0.0
        for i in 0..<count { s += Double(data[i]) }
        return s
    }

    public func maxAbs() -> Float {
        var m: Float = 0
        for i in 0..<count { m = max(m, abs(data[i])) }
        return m
    }

    /// ⟨self, other⟩ accumulated in Double.
    public func dot(_ other: Tensor) -> Double {
        precondition(count == other.count, "dot of \(shape) and \(other.shape)")
        var s = 0.0
        for i in 0..<count { s += Double(data[i]) * Double(other.data[i]) }
        return s
    }

    /// self += scale * other
    public func add(_ other: Tensor, scale: Float = 1) {
        precondition(count == other.count, "add of \(shape) and \(other.shape)")
        let a = data, b = other.data
        for i in 0..<count { a[i] += scale * b[i] }
    }

    public func scale(by s: Float) {
        for i in 0..<count { data[i] *= s }
    }

    /// True when every element is finite (no NaN/Inf).
    public var isFinite: Bool {
        for i in 0..<count where !data[i].isFinite { return false }
        return true
    }

    /// Largest absolute element-wise difference.
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(count == other.count, "compare \(shape) with \(other.shape)")
        var m: Float = 0
        for i in 0..<count { m = max(m, abs(data[i] - other.data[i])) }
        return m
    }
}
