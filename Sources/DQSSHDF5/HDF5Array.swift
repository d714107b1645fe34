// HDF5Array: an n-dimensional array of one of the four element types checkpoints use, row-major
// (C order, as HDF5 and NumPy store it). Shape [] is a scalar (one element).

public enum HDF5Values: Sendable, Equatable {
    case float32([Float])
    case float64([Double])
    case int64([Int64])
    case uint64([UInt64])

    public var count: Int {
        switch self {
        case let .float32(v): v.count
        case let .float64(v): v.count
        case let .int64(v): v.count
        case let .uint64(v): v.count
        }
    }

    /// "float32", "float64", "int64", "uint64" (NumPy's names).
    public var typeName: String {
        switch self {
        case .float32: "float32"
        case .float64: "float64"
        case .int64: "int64"
        case .uint64: "uint64"
        }
    }

    /// Bitwise equality (NaN payloads and ±0 distinguished), what exact resume promises.
    public func bitwiseEqual(_ other: HDF5Values) -> Bool {
        switch (self, other) {
        case let (.float32(a), .float32(b)): a.map(\.bitPattern) == b.map(\.bitPattern)
        case let (.float64(a), .float64(b)): a.map(\.bitPattern) == b.map(\.bitPattern)
        case let (.int64(a), .int64(b)): a == b
        case let (.uint64(a), .uint64(b)): a == b
        default: false
        }
    }
}

public struct HDF5Array: Sendable, Equatable {
    public var shape: [Int]
    public var values: HDF5Values

    /// - Precondition: the product of `shape` equals the number of values.
    public init(shape: [Int], values: HDF5Values) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
                     "HDF5Array: shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }

    public static func float32(_ v: [Float], shape: [Int]? = nil) -> HDF5Array { HDF5Array(shape: shape ?? [v.count], values: .float32(v)) }
    public static func float64(_ v: [Double], shape: [Int]? = nil) -> HDF5Array { HDF5Array(shape: shape ?? [v.count], values: .float64(v)) }
    public static func int64(_ v: [Int64], shape: [Int]? = nil) -> HDF5Array { HDF5Array(shape: shape ?? [v.count], values: .int64(v)) }
    public static func uint64(_ v: [UInt64], shape: [Int]? = nil) -> HDF5Array { HDF5Array(shape: shape ?? [v.count], values: .uint64(v)) }

    public var float32Values: [Float]? { if case let .float32(v) = values { v } else { nil } }
    public var float64Values: [Double]? { if case let .float64(v) = values { v } else { nil } }
    public var int64Values: [Int64]? { if case let .int64(v) = values { v } else { nil } }
    public var uint64Values: [UInt64]? { if case let .uint64(v) = values { v } else { nil } }

    public func bitwiseEqual(_ other: HDF5Array) -> Bool { shape == other.shape && values.bitwiseEqual(other.values) }
}
