// QuantizationSource: where `dqss export` gets the per-layer quantization from. A small protocol so that
// other inputs (a QAT checkpoint, ...) can be added without touching the exporters.
//
// Implemented today:
//   PTQThresholdsSource   — the file of `dqss ptq --save-thresholds` (one assignment per PTQ method)
//   SearchAssignmentSource — a `dqss search` output directory (assignment.json) or that file itself

import Foundation
import DQSSQuant

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

/// The thresholds file of `dqss ptq`: every layer's LayerQuantization per PTQ method.
public struct PTQThresholdsSource: QuantizationSource {
    struct File: Decodable {
        var model: String
        var weights: String
        var methods: [String: [LayerQuantization]]
    }

    public let url: URL
    public let method: String
    let file: File

    public init(url: URL, data: Data? = nil, method: String? = nil) throws {
        self.url = url
        let bytes: Data
        do { bytes = try data ?? Data(contentsOf: url) } catch { throw ExportError("cannot read \(url.path): \(error)") }
        do {
            file = try JSONDecoder().decode(File.self, from: bytes)
        } catch {
            throw ExportError("\(url.path): not a `dqss ptq --save-thresholds` file: \(error)")
        }
        let available = file.methods.keys.sorted()
        if let method {
            let key = method.lowercased()
            guard file.methods[key] != nil else {
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
        let layers = file.methods[method]!.map {
            LayerExportQuantization($0, activationStrategy: label, weightStrategy: label)
        }
        return ExportAssignment(model: file.model, weights: file.weights,
                                origin: "dqss ptq thresholds, method \(label), from \(url.path)", layers: layers)
    }
}

// MARK: - dqss search output

/// assignment.json of a DQSS search: per layer the winning activation/weight candidate and its
/// threshold (StrategyAssignment), plus bit widths and signedness.
///
/// Accepted per-layer keys: name, activation_candidate, weight_candidate, activation_threshold,
/// weight_threshold, and activation_unsigned, activation_bits, weight_bits (each of the last three may
/// instead be given once at the top level: activation_unsigned / signed_activations, activation_bits,
/// weight_bits). A missing bit width or signedness is refused rather than guessed.
public struct SearchAssignmentSource: QuantizationSource {
    struct Layer: Decodable {
        var name: String
        var activationCandidate: String?
        var weightCandidate: String?
        var activationThreshold: Float
        var weightThreshold: Float
        var activationUnsigned: Bool?
        var activationBits: Int?
        var weightBits: Int?
        enum CodingKeys: String, CodingKey {
            case name
            case activationCandidate = "activation_candidate"
            case weightCandidate = "weight_candidate"
            case activationThreshold = "activation_threshold"
            case weightThreshold = "weight_threshold"
            case activationUnsigned = "activation_unsigned"
            case activationBits = "activation_bits"
            case weightBits = "weight_bits"
        }
    }

    struct File: Decodable {
        var model: String?
        var weights: String?
        var activationBits: Int?
        var weightBits: Int?
        var signedActivations: Bool?
        var layers: [Layer]
        enum CodingKeys: String, CodingKey {
            case model, weights, layers
            case activationBits = "activation_bits"
            case weightBits = "weight_bits"
            case signedActivations = "signed_activations"
        }
    }

    public let url: URL
    let file: File

    public init(url: URL, data: Data? = nil) throws {
        self.url = url
        let bytes: Data
        do { bytes = try data ?? Data(contentsOf: url) } catch { throw ExportError("cannot read \(url.path): \(error)") }
        do {
            file = try JSONDecoder().decode(File.self, from: bytes)
        } catch {
            throw ExportError("\(url.path): not a search assignment: \(error)")
        }
    }

    public func assignment() throws -> ExportAssignment {
        let layers = try file.layers.map { l -> LayerExportQuantization in
            guard let aBits = l.activationBits ?? file.activationBits, let wBits = l.weightBits ?? file.weightBits else {
                throw ExportError("\(url.path): layer \(l.name) has no activation_bits/weight_bits (nor the file)")
            }
            let unsigned: Bool
            if let u = l.activationUnsigned {
                unsigned = u
            } else if file.signedActivations == true {
                unsigned = false
            } else {
                throw ExportError("\(url.path): layer \(l.name) does not say whether its input is unsigned " +
                                  "(activation_unsigned), and the file does not set signed_activations")
            }
            return LayerExportQuantization(
                name: l.name,
                activation: TensorQuantization(bits: aBits, isUnsigned: unsigned, threshold: l.activationThreshold,
                                               strategy: l.activationCandidate),
                weight: TensorQuantization(bits: wBits, isUnsigned: false, threshold: l.weightThreshold,
                                           strategy: l.weightCandidate))
        }
        return ExportAssignment(model: file.model, weights: file.weights,
                                origin: "DQSS search assignment from \(url.path)", layers: layers)
    }
}
