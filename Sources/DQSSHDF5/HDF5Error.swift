// HDF5Error: every failure of the HDF5 wrapper as a Swift error naming the file, the object inside it
// and what was attempted, plus HDF5's own explanation (its error stack is never printed: see HDF5Call).

public struct HDF5Error: Error, CustomStringConvertible, Equatable {
    /// Path of the HDF5 file on disk.
    public var file: String
    /// Path of the object inside the file ("/model/conv1.weight"); empty for the file itself.
    public var object: String
    /// What was attempted ("open", "read dataset", ...).
    public var operation: String
    /// Why it failed (HDF5's outermost message and innermost cause, or the wrapper's own check).
    public var detail: String

    public init(file: String, object: String, operation: String, detail: String) {
        self.file = file; self.object = object; self.operation = operation; self.detail = detail
    }

    public var description: String {
        object.isEmpty ? "\(file): \(operation) failed: \(detail)"
                       : "\(file): \(operation) '\(object)' failed: \(detail)"
    }
}
