// Loading pretrained weights into a zoo model: strict, all-or-nothing, before anything runs.
//
// Every parameter AND buffer (BatchNorm running statistics) of the model must be in the file with the
// same shape, and the file must hold nothing else, except `num_batches_tracked` counters (never loaded,
// ignored when present) and a "module." prefix (stripped when present). Any mismatch or a damaged/truncated file throws
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
    let loader = StateDictLoader(stripPrefix: stripPrefix)
    // BatchNorm's num_batches_tracked counter is not a destination: PyTorch stores it as an int64 scalar
    // (shape []), dqss as a float [1], inference never reads it and training uses a fixed momentum.
    // Leaving it out makes the loader skip the file's copy as ignorable instead of reporting a shape clash.
    let destinations = model.namedParameters().map { (name: $0.name, tensor: $0.parameter.value) }
        + model.namedBuffers().filter { !loader.ignoredSuffixes.contains(where: $0.name.hasSuffix) }
    return try loader.load(file, into: destinations)
}

extension ModelSpec {
    /// The manifest that may sit next to a weights file: same path with ".json" instead of ".safetensors".
    public static func manifestURL(forWeights url: URL) -> URL {
        url.deletingPathExtension().appendingPathExtension("json")
    }

    /// The normalisation for `weights` and where it comes from: `input.mean`/`input.std` of its JSON
    /// manifest when that file exists and has an "input" section, else this model's default. A manifest
    /// whose mean/std are not 3 numbers each (std > 0), or that is not JSON, is an error: silently
    /// using other statistics would cost accuracy without anyone noticing.
    public func normalization(forWeights url: URL) throws -> (normalization: Normalization, source: String) {
        let fallback = (normalization, normalizationSource)
        let m = Self.manifestURL(forWeights: url)
        guard FileManager.default.fileExists(atPath: m.path) else { return fallback }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(contentsOf: m))
        } catch {
            throw ModelError("\(m.path): cannot read the weights manifest (\(error.localizedDescription))")
        }
        guard let root = json as? [String: Any], let input = root["input"] as? [String: Any] else {
            return fallback   // a manifest without an "input" section says nothing about normalisation
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
        return (Normalization(mean: mean, std: std), "manifest \(m.path)")
    }
}
