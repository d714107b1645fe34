// Tensor: a contiguous float32 array with a shape (NCHW for images).
//
// Contract:
// - Storage is owned by exactly one Tensor object, or shared on purpose by a view made with
//   `reshaped(_:)`. Tensor is a reference type: layers own their output and gradient buffers and
//   overwrite them on the next step (no allocation in the hot path, as in llm.c). A tensor returned by
//   a layer is valid until that layer's next forward/backward; call `copy()` to keep it.
// - Memory is 64-byte aligned, so SIMD loads and BLAS are happy.
// - Nothing here is thread-safe by itself; parallel kernels split work into disjoint ranges.

/// The raw buffer behind one or more tensor views.
public final class TensorStorage: @unchecked Sendable {
    public let capacity: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(capacity: Int) {
        self.capacity = capacity
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1) * MemoryLayout<Float>.stride,
                                                   alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(capacity, 1))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

public final class Tensor: @unchecked Sendable, CustomStringConvertible {
    public private(set) var shape: [Int]
    public private(set) var count: Int
    public private(set) var storage: TensorStorage

    /// Pointer to element 0 (row-major, contiguous).
    @inlinable public var data: UnsafeMutablePointer<Float> { storage.pointer }

    /// A zero-filled tensor of the given shape.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.storage = TensorStorage(capacity: count)
        storage.pointer.initialize(repeating: 0, count: max(count, 1))
    }

    /// A tensor holding `values` (row-major); `values.count` must equal the shape's element count.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape) (\(count) elements)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// A tensor filled with `value`.
    public convenience init(shape: [Int], repeating value: Float) {
        self.init(shape: shape)
        data.update(repeating: value, count: count)
    }

    private init(view storage: TensorStorage, shape: [Int]) {
        self.storage = storage
        self.shape = shape
        self.count = shape.reduce(1, *)
    }

    // MARK: - Shape

    public var rank: Int { shape.count }
    /// NCHW accessors (trap if the rank is too small).
    public var n: Int { shape[0] }
    public var c: Int { shape[1] }
    public var h: Int { shape[2] }
    public var w: Int { shape[3] }

    /// Re-shape this tensor for reuse. Keeps the storage when it is large enough, so a buffer that is
    /// resized to the same shape every step never allocates. Contents are unspecified afterwards.
    /// Returns true when the storage was reallocated.
    @discardableResult
    public func resize(to newShape: [Int]) -> Bool {
        let newCount = newShape.reduce(1, *)
        shape = newShape
        count = newCount
        if newCount > storage.capacity {
            storage = TensorStorage(capacity: newCount)
            return true
        }
        return false
    }

    /// A view with another shape over the same storage (same element count). Writes are shared.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let rest = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            s[i] = rest == 0 ? 0 : count / rest
        }
        precondition(s.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(view: storage, shape: s)
    }

    // MARK: - Contents

    @inlinable public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    /// Element at NCHW index.
    @inlinable public subscript(n: Int, c: Int, h: Int, w: Int) -> Float {
        get { data[((n * shape[1] + c) * shape[2] + h) * shape[3] + w] }
        set { data[((n * shape[1] + c) * shape[2] + h) * shape[3] + w] = newValue }
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }

    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    public func copy() -> Tensor {
        let t = Tensor(shape: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// Copy the values (and shape) of `other` into this tensor, reusing storage when possible.
    public func assign(_ other: Tensor) {
        resize(to: other.shape)
        data.update(from: other.data, count: count)
    }

    /// Overwrite the contents with `values` (same element count).
    public func set(_ values: [Float]) {
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    public func zero() { data.update(repeating: 0, count: count) }
    public func fill(_ v: Float) { data.update(repeating: v, count: count) }

    public var description: String {
        let head = array.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(\(shape)) [\(head)\(count > 8 ? ", …" : "")]"
    }
}
