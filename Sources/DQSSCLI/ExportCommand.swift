// `dqss export`: make a quantization result deployable.
//
//   dqss export --from FILE|DIR --format onnx-qdq|onnx|trt-cache|json --out FILE ('-' = stdout)
//               [--model NAME] [--weights FILE] [--num-classes N] [--method M] [--no-narrow-clip]
//               [--trt-version 8.6.1] [--data DIR [--split test] [--limit N]] [--json] [--quiet]
//
// --from (see DQSSExport.QuantizationSource):
//   * a `dqss ptq --save-thresholds` file (choose --method when it holds several);
//   * a `dqss search` output directory (its assignment.json) or an assignment JSON file;
//   * an HDF5 checkpoint, or a checkpoint directory (its newest checkpoint): the derived (winner-take-all,
//     Eq. 6) assignment; the network weights come from the checkpoint's state_dict unless --weights.
// Model and weights default to the ones the source recorded.
// Formats:
//   onnx-qdq   FP32 graph + QuantizeLinear/DequantizeLinear on every Conv/Gemm input and weight (opset 13)
//   onnx       the FP32 graph only (no --from needed); tensor names identical to onnx-qdq's
//   trt-cache  TensorRT INT8 calibration cache for the activation tensors of that graph
//              (trtexec --onnx=model.onnx --int8 --calib=FILE; see docs/export.md)
//   json       from a checkpoint: the derived assignment with α, β (an AssignmentDocument, "dqss-assignment");
//              otherwise per quantized tensor: strategy, threshold, scale, bits, signedness, ONNX tensor
// Graph input "input" = normalised images (the caller normalises as `dqss eval` does; mean/std are in the
// model's metadata_props). With --data, the same assignment is also evaluated by dqss itself (fake
// quantizers installed in the Swift network), for a side-by-side check against the runtime.

import ArgumentParser
import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSCheckpoint
import DQSSExport
import DQSSRun

enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
    case onnxQDQ = "onnx-qdq", onnx, trtCache = "trt-cache", json
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a PTQ/search result or checkpoint as ONNX QDQ, a TensorRT calibration cache or JSON.",
        discussion: "Models: \(ModelZoo.names.joined(separator: ", ")).")

    @Option(help: "A `dqss ptq --save-thresholds` file, a `dqss search` directory / assignment.json, or a checkpoint (file or directory).")
    var from: String?

    @Option(help: "Output format: \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: ExportFormat = .json

    @Option(help: "Output file ('-' for stdout).")
    var out: String

    @Option(help: "Model name (default: the one recorded in --from).")
    var model: String?

    @Option(help: "Weights file (default: the one recorded in --from, or the checkpoint's state_dict); mean/std from <weights>.json beside it.")
    var weights: String?

    @OptionGroup var head: HeadOptions

    @Option(help: "PTQ method to export from a thresholds file holding several (maxabs, kl, easyquant, admm).")
    var method: PTQMethod?

    @Flag(help: "onnx-qdq: no Clip(-127·s, 127·s) before signed QuantizeLinear (bare Q/DQ; int8 then saturates at -128, dqss at -127).")
    var noNarrowClip = false

    @Option(help: "trt-cache: TensorRT version the header is written for (major.minor.patch).")
    var trtVersion: String = "8.6.1"

    @Option(help: "Also evaluate the assignment with dqss on this dataset directory (CIFAR-10 records or `dqss prepare` shards).")
    var data: String?

    @OptionGroup var evaluation: InferenceOptions

    @OptionGroup var threading: ThreadOptions

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if from == nil && format != .onnx {
            throw ValidationError("--from is required for --format \(format.rawValue) (only the FP32 `onnx` export has no source)")
        }
        if output.json && out == "-" { throw ValidationError("--json and --out - both use stdout") }
    }

    /// A checkpoint: a sealed checkpoint ("DQSSCKPT") or a plain HDF5 file (by their signatures), or a
    /// directory without assignment.json.
    static func isCheckpoint(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return false }
        if isDirectory.boolValue {
            // A QAT --out directory holds assignment.json AND the trained network: the network is the source.
            if CheckpointDirectory.finalNetwork(in: URL(fileURLWithPath: path)) != nil { return true }
            return !FileManager.default.fileExists(atPath: URL(fileURLWithPath: path).appendingPathComponent("assignment.json").path)
        }
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        let hdf5: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
        return (try? h.read(upToCount: 8)).map { [UInt8]($0) == hdf5 || [UInt8]($0) == Array("DQSSCKPT".utf8) } ?? false
    }

    func run() throws {
        threading.apply()
        let log = output.progress

        // The source: a checkpoint, or one of DQSSExport's readers.
        var checkpoint: (Checkpoint, URL)?
        var assignment: ExportAssignment?
        if let from {
            if Self.isCheckpoint(from) {
                let url = try resolveCheckpointArgument(from)
                let (c, seal) = try CheckpointReader.readChecked(url)
                if let w = CheckpointReader.warning(seal, file: url.path) { FileHandle.standardError.write(Data((w + "\n").utf8)) }
                let doc = try CheckpointSummary.derivedAssignment(c, file: url.path)
                if format == .json {   // the derived assignment with α, β, as `dqss inspect` shows it
                    try write(try doc.jsonData(pretty: true) + Data("\n".utf8))
                    return
                }
                assignment = try SearchAssignmentSource(doc, origin: "derived assignment of checkpoint \(url.path) "
                                                        + "(step \(c.progress.step))").assignment()
                checkpoint = (c, url)
            } else {
                assignment = try QuantizationSources.open(from, method: method?.rawValue).assignment()
            }
        }

        // The network, with its weights.
        guard let modelName = model ?? assignment?.model else {
            throw ValidationError("--model is required (the source does not record one)")
        }
        let spec = try head.spec(named: modelName)
        let network: any UnaryLayer
        let weightsLabel: String
        let norm: Normalization, normSource: String
        if let path = weights ?? (checkpoint == nil ? assignment?.weights : nil) {
            let url = URL(fileURLWithPath: path)
            network = try spec.load(weights: url)
            (norm, normSource) = try spec.normalizationWarning(forWeights: url)
            weightsLabel = url.path
        } else if let (c, url) = checkpoint {
            network = spec.make(seed: 0)
            try c.restoreStateDict(into: network, file: url.path)
            (norm, normSource) = (spec.normalization, spec.normalizationSource)
            weightsLabel = "state_dict of \(url.path)"
        } else {
            throw ValidationError("--weights is required (the source does not record one)")
        }
        network.setTraining(false)
        var notes: [String] = []
        if let (c, url) = checkpoint {
            // DoReFa's weights are a uniform grid over c·tanh(W)/max|tanh W|, not over W (QATDeployment).
            let dorefa = try QATDeployment.applyWeightTransforms(to: network, checkpoint: c, file: url.path)
            for i in assignment!.layers.indices {
                if let t = dorefa[assignment!.layers[i].name] { assignment!.layers[i].weight.threshold = t }
            }
            if !dorefa.isEmpty { notes.append("\(dorefa.count) layer(s) with DoReFa weights: exported as the uniform grid of c·tanh(W)/max|tanh W|") }
        }
        if let assignment { log.line("source: \(assignment.origin), \(assignment.layers.count) layers") }

        // Quantized unless the FP32 `onnx` graph is asked for (every other format needs --from: validate()).
        let quantization = format == .onnx ? nil : assignment
        let metadata: [(String, String)] = [
            ("dqss.model", modelName), ("dqss.weights", weightsLabel),
            ("dqss.input", "normalised images x = (byte/255 - mean)/std, NCHW float32"),
            ("dqss.normalization.mean", norm.mean.map { "\($0)" }.joined(separator: ",")),
            ("dqss.normalization.std", norm.std.map { "\($0)" }.joined(separator: ",")),
            ("dqss.normalization.source", normSource),
            ("dqss.origin", quantization?.origin ?? "FP32"),
        ]
        let exported = try ONNXNetworkExporter.export(
            network, name: modelName, inputShape: spec.inputShape,
            quantization: quantization?.layers,
            options: ONNXExportOptions(exactNarrowRange: !noNarrowClip), metadata: metadata)

        let bytes: Data
        switch format {
        case .onnxQDQ, .onnx:
            bytes = try exported.serialized()
            let narrow = exported.points.filter { $0.quantization.map { !$0.activation.isUnsigned && $0.activation.bits == 8 } ?? false }
            if format == .onnxQDQ && noNarrowClip && !narrow.isEmpty {
                notes.append("\(narrow.count) signed 8-bit input(s) saturate at -128 in ONNX (dqss: -127): results may differ from dqss")
            } else if format == .onnxQDQ && !narrow.isEmpty {
                notes.append("\(narrow.count) signed 8-bit input(s) get a Clip to [-127, 127]·s before QuantizeLinear (dqss's narrow range)")
            }
        case .trtCache:
            let header = try TensorRTCalibrationCache.header(tensorRTVersion: trtVersion)
            let (cache, merged) = try TensorRTCalibrationCache.build(points: exported.points, header: header)
            bytes = Data(cache.text.utf8)
            for m in merged {
                notes.append("tensor \(m.tensor) feeds layers with thresholds \(m.thresholds); the cache holds the largest")
            }
            let unsigned = exported.points.filter { $0.quantization?.activation.isUnsigned ?? false }.count
            if unsigned > 0 { notes.append("\(unsigned) unsigned input(s) become TensorRT's signed INT8 range [-T, T]") }
            notes.append("weight scales are not part of a calibration cache (TensorRT computes its own); use onnx-qdq for the searched weight strategies")
        case .json:
            bytes = try AssignmentJSON(model: modelName, weights: weightsLabel, origin: quantization?.origin ?? "FP32",
                                       mean: norm.mean, std: norm.std, points: exported.points).encoded()
        }
        try write(bytes)
        log.line("\(format.rawValue): \(out) (\(bytes.count) bytes, \(exported.points.count) quantization points)")
        for n in notes { log.line("note: \(n)") }

        var result: ClassifierResult?
        if let data {
            let source = try spec.openSplit(evaluation.split, of: data, normalization: norm)
            let points = QuantizedModel.points(of: network)
            if let quantization {
                let byName = Dictionary(uniqueKeysWithValues: quantization.layers.map { ($0.name, $0.layerQuantization) })
                let layers = try points.map { p in
                    guard let l = byName[p.name] else { throw ValidationError("--from: no quantization for layer \(p.name) of \(modelName)") }
                    return l
                }
                QuantizedModel.install(points, assignments: layers)
            }
            let r = try evaluateTop1(network, total: evaluation.total(of: source.count), batchSize: evaluation.batch,
                                     batch: source.batch)
            QuantizedModel.removeHooks(points)
            log.line(String(format: "dqss %@ on %@/%@: %d / %d", quantization == nil ? "FP32" : "quantized", data,
                            evaluation.split, r.correct, r.total))
            result = r
        }

        if out == "-" { return }
        let report = ExportReport(model: modelName, weights: weightsLabel, format: format.rawValue, out: out,
                                  bytes: bytes.count, origin: assignment?.origin, layers: exported.points.count,
                                  notes: notes, split: result == nil ? nil : evaluation.split,
                                  dqssCorrect: result?.correct, dqssTotal: result?.total)
        if output.json {
            try report.printJSON()
        } else {
            print("\(modelName) -> \(out) (\(format.rawValue), \(exported.points.count) quantization points)" +
                  (result.map { ", dqss top-1 \($0.correct)/\($0.total) on \(evaluation.split)" } ?? ""))
        }
    }

    func write(_ data: Data) throws {
        if out == "-" {
            FileHandle.standardOutput.write(data)
            return
        }
        do { try data.write(to: URL(fileURLWithPath: out), options: .atomic) } catch {
            throw ValidationError("cannot write --out \(out): \(error.localizedDescription)")
        }
    }
}

/// The --json output of `dqss export` (printed with snake_case keys).
private struct ExportReport: Encodable {
    var model: String
    var weights: String
    var format: String
    var out: String
    var bytes: Int
    var origin: String?
    var layers: Int
    var notes: [String]
    var split: String?
    var dqssCorrect: Int?
    var dqssTotal: Int?
}
