// Loading pretrained weights into a zoo model: strict, all-or-nothing, before anything runs.
//
// Every parameter AND buffer (BatchNorm running statistics) of the model must be in the file with the
// same shape, and the file must hold nothing else, except `num_batches_tracked` counters (ignored both
// ways) and a "module." prefix (stripped when present). Any mismatch or a damaged/truncated file throws
// one error naming the file and every offending tensor; the model is left untouched in that case.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData

extension ModelSpec {
    /// Build this model and load `url` into it (evaluation mode).
    public func load(weights url: URL) throws -> any UnaryLayer {
        let model = make(seed: 0)
        try loadWeights(into: model, from: url, stripPrefix: weightPrefix)
        return model
    }
}

/// Strictly load a safetensors state_dict into `model`'s parameters and buffers.
@discardableResult
public func loadWeights(into model: any Layer, from url: URL, stripPrefix: String? = "module.") throws
    -> StateDictLoader.Report {
    let file = try SafetensorsFile(contentsOf: url)
    let destinations = model.namedParameters().map { (name: $0.name, tensor: $0.parameter.value) }
        + model.namedBuffers()
    return try StateDictLoader(stripPrefix: stripPrefix).load(file, into: destinations)
}

extension Normalization {
    /// The manifest that may sit next to a weights file: same path with ".json" instead of ".safetensors".
    public static func manifestURL(forWeights url: URL) -> URL {
        url.deletingPathExtension().appendingPathExtension("json")
    }

    /// The normalisation for `weights`: `input.mean`/`input.std` from its JSON manifest when that file
    /// exists, else `fallback`. A manifest that exists but cannot be parsed, or whose mean/std are not
    /// 3 numbers each (std > 0), is an error (silently using other statistics would cost accuracy).
    public static func resolve(forWeights url: URL, fallback: Normalization) throws -> Normalization {
        let m = manifestURL(forWeights: url)
        guard FileManager.default.fileExists(atPath: m.path) else { return fallback }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(contentsOf: m))
        } catch {
            throw ModelError("\(m.path): cannot read the weights manifest (\(error.localizedDescription))")
        }
        guard let root = json as? [String: Any], let input = root["input"] as? [String: Any] else {
            // A manifest without an "input" section says nothing about normalisation.
            return fallback
        }
        func floats(_ key: String) throws -> [Float] {
            guard let a = input[key] as? [Any], a.count == 3 else {
                throw ModelError("\(m.path): input.\(key) must be a list of 3 numbers")
            }
            return try a.map {
                guard let v = ($0 as? NSNumber)?.floatValue else {
                    throw ModelError("\(m.path): input.\(key) must be a list of 3 numbers")
                }
                return v
            }
        }
        let mean = try floats("mean"), std = try floats("std")
        guard std.allSatisfy({ $0 > 0 }) else { throw ModelError("\(m.path): input.std must be positive") }
        return Normalization(mean: mean, std: std, source: "manifest \(m.path)")
    }
}
