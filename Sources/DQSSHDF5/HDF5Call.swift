// The only place that calls into HDF5's error machinery and closes handles.
//
// HDF5 prints its error stack to stderr by default. We switch that off (per thread: this HDF5 is a
// thread-safe build, where the setting is thread-local) before every wrapped call, and when a call
// fails we take the stack's outermost and innermost messages into an HDF5Error.

import _CHDF5

/// An HDF5 identifier owned by exactly one Swift object; closed when that object goes away.
final class HDF5Handle {
    let id: hid_t
    private let closer: (hid_t) -> herr_t

    init(_ id: hid_t, close: @escaping (hid_t) -> herr_t) {
        self.id = id
        self.closer = close
    }

    deinit {
        // A file closed with H5F_CLOSE_STRONG has already closed its objects: their ids are invalid.
        if H5Iis_valid(id) > 0 { _ = closer(id) }
    }
}

/// Context for error messages: which file and object a call is about.
struct HDF5Context {
    var file: String
    var object: String

    /// Switch off HDF5's automatic error printing for the calling thread.
    static func silence() { dqss_h5_silence_errors() }

    /// HDF5's explanation of the error just raised (and clear the stack).
    static func takeError() -> String {
        var text = dqss_h5_error_text()
        dqss_h5_take_error(&text)
        let outer = withUnsafeBytes(of: &text.outer) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let inner = withUnsafeBytes(of: &text.inner) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        switch (outer.isEmpty, inner.isEmpty) {
        case (true, true): return "HDF5 reported no reason"
        case (false, true): return outer
        case (true, false): return inner
        default: return outer == inner ? outer : "\(outer) (\(inner))"
        }
    }

    func error(_ operation: String, _ detail: String? = nil, object: String? = nil) -> HDF5Error {
        HDF5Error(file: file, object: object ?? self.object, operation: operation, detail: detail ?? Self.takeError())
    }

    /// Run an HDF5 call returning herr_t; negative -> HDF5Error.
    @discardableResult
    func check(_ operation: String, object: String? = nil, _ body: () -> herr_t) throws -> herr_t {
        Self.silence()
        let r = body()
        if r < 0 { throw error(operation, object: object) }
        return r
    }

    /// Run an HDF5 call returning an identifier; negative -> HDF5Error, else a handle closed by `close`.
    func handle(_ operation: String, object: String? = nil, close: @escaping (hid_t) -> herr_t,
                _ body: () -> hid_t) throws -> HDF5Handle {
        Self.silence()
        let id = body()
        if id < 0 { throw error(operation, object: object) }
        return HDF5Handle(id, close: close)
    }
}
