// QuantizationSource: where `dqss export` gets the per-layer quantization from. A small protocol so that
// other inputs (a QAT checkpoint, ...) can be added without touching the exporters.
//
// Implemented today:
//   PTQThresholdsSource   — the file of `dqss ptq --save-thresholds` (one assignment per PTQ method)
//   SearchAssignmentSource — a `dqss search` output directory (assignment.json) or that file itself

import Foundation
import DQSSQuant
import DQSSFormats

/// A per-layer assignment ready to export, with where it came from.
public struct ExportAssignment: Sendable {
    /// Model and weights recorded by the producer (nil when it did not record them).
    public var model: String?
    public var weights: String?
    /// Human-readable origin ("dqss ptq thresholds, method KL, from FILE").
    public var origin: String
    /// One entry per Conv2d/Linear, in module order.
    public var layers: [LayerExportQuantization]

    public init(model: String?, weights: String?, origin: String, layers: [LayerExportQuantization]) {
        self.model = model
        self.weights = weights
        self.origin = origin
        self.layers = layers
    }
}

public protocol QuantizationSource {
    func assignment() throws -> ExportAssignment
}

public enum QuantizationSources {
    /// The source at `path`: a directory holding assignment.json, or a JSON file whose keys say which
    /// producer wrote it (`methods` -> `dqss ptq --save-thresholds`; `layers` -> a search assignment).
    /// - Parameter method: which PTQ method to take from a thresholds file holding several.
    public static func open(_ path: String, method: String? = nil) throws -> any QuantizationSource {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ExportError("--from: \(path) does not exist")
        }
        if isDirectory.boolValue {
            let file = URL(fileURLWithPath: path).appendingPathComponent("assignment.json")
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw ExportError("--from: directory \(path) has no assignment.json (a `dqss search` output directory is expected)")
            }
            return try SearchAssignmentSource(url: file)
        }
        let url = URL(fileURLWithPath: path)
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw ExportError("--from: cannot read \(path): \(error)") }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ExportError("--from: \(path) is not a JSON object")
        }
        if object["methods"] != nil { return try PTQThresholdsSource(url: url, data: data, method: method) }
        if object["layers"] != nil { return try SearchAssignmentSource(url: url, data: data) }
        throw ExportError("--from: \(path) is neither a `dqss ptq --save-thresholds` file (key \"methods\") " +
                          "nor a search assignment (key \"layers\")")
    }
}

// MARK: - dqss ptq --save-thresholds

/// The thresholds file of `dqss ptq` (ThresholdsDocument): every layer's LayerQuantization per PTQ method.
public struct PTQThresholdsSource: QuantizationSource {
    public let url: URL
    public let method: String
    public let document: ThresholdsDocument

    public init(url: URL, data: Data? = nil, method: String? = nil) throws {
        self.url = url
        let bytes: Data
        do { bytes = try data ?? Data(contentsOf: url) } catch { throw ExportError("cannot read \(url.path): \(error)") }
        do {
            document = try ThresholdsDocument.decodeJSON(bytes)
        } catch {
            throw ExportError("\(url.path): not a `dqss ptq --save-thresholds` file: \(error)")
        }
        let available = document.methods.keys.sorted()
        if let method {
            let key = method.lowercased()
            guard document.methods[key] != nil else {
                throw ExportError("--method \(method): \(url.path) holds \(available.joined(separator: ", "))")
            }
            self.method = key
        } else {
            guard available.count == 1 else {
                throw ExportError("\(url.path) holds thresholds of \(available.joined(separator: ", ")): choose one with --method")
            }
            self.method = available[0]
        }
    }

    public func assignment() throws -> ExportAssignment {
        let label = PTQMethod(rawValue: method)?.paperName ?? method
        let layers = (document.methods[method] ?? []).map {
            LayerExportQuantization($0, activationStrategy: label, weightStrategy: label)
        }
        return ExportAssignment(model: document.model, weights: document.weights,
                                origin: "dqss ptq thresholds, method \(label), from \(url.path)", layers: layers)
    }
}

// MARK: - dqss search output

/// An assignment document (DQSSFormats' AssignmentDocument): `dqss search --mode ptq --out`'s
/// assignment.json, a checkpoint's derived assignment, or a file in that schema: per layer the chosen
/// activation and weight candidates and their thresholds, with bit widths and signedness per layer or once
/// for the file (weight_bits, activation_bits, signed_activations). A missing bit width or signedness is
/// refused rather than guessed.
public struct SearchAssignmentSource: QuantizationSource {
    public let document: AssignmentDocument
    /// Where it came from, for messages and the export's metadata.
    public let origin: String

    /// The document in the file at `url` (`data`: its bytes when already read).
    public init(url: URL, data: Data? = nil) throws {
        let bytes: Data
        do { bytes = try data ?? Data(contentsOf: url) } catch { throw ExportError("cannot read \(url.path): \(error)") }
        do {
            document = try AssignmentDocument.decodeJSON(bytes)
        } catch {
            throw ExportError("\(url.path): not a search assignment: \(error)")
        }
        // A QAT run trained the weights too: its assignment with the pretrained weights is another network.
        if let task = document.task, task == "qat" || task == "search-qat" {
            throw ExportError("\(url.path) is the assignment of a QAT run, whose weights were trained with it: export the "
                              + "network saved beside it (`dqss export --from \(url.deletingLastPathComponent().path)`)")
        }
        origin = "DQSS search assignment from \(url.path)"
    }

    /// An assignment in memory (a search's, or a checkpoint's derived one).
    public init(_ document: AssignmentDocument, origin: String) {
        self.document = document
        self.origin = origin
    }

    public func assignment() throws -> ExportAssignment {
        let file = document
        let layers = try file.layers.map { l -> LayerExportQuantization in
            guard let aBits = l.activationBits ?? file.activationBits, let wBits = l.weightBits ?? file.weightBits else {
                throw ExportError("\(origin): layer \(l.name) has no activation_bits/weight_bits (nor the file)")
            }
            let unsigned: Bool
            if let u = l.activationUnsigned {
                unsigned = u
            } else if file.signedActivations == true {
                unsigned = false
            } else {
                throw ExportError("\(origin): layer \(l.name) does not say whether its input is unsigned " +
                                  "(activation_unsigned), and the file does not set signed_activations")
            }
            return LayerExportQuantization(
                name: l.name,
                activation: TensorQuantization(bits: aBits, isUnsigned: unsigned, threshold: l.activationThreshold,
                                               strategy: l.activation),
                weight: TensorQuantization(bits: wBits, isUnsigned: false, threshold: l.weightThreshold,
                                           strategy: l.weight, channelThresholds: l.weightChannelThresholds,
                                           rounding: l.weightRounding))
        }
        return ExportAssignment(model: file.model, weights: file.weights, origin: origin, layers: layers)
    }
}
