// The README's "Use as a library" example, run as written: search ResNet-20, take the assignment, export
// it to ONNX. The code between the markers below is the README's Swift block, character for character
// (the second test compares them), so the README's example compiles and runs with the package.

import Foundation
import Testing
import DQSSRun
import DQSSModels
import DQSSQuant
import DQSSExport

/// <package root>/../shared/datasets, where the tests find real weights and data.
private let sharedDatasets = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/datasets")
private let sharedDataReady = FileManager.default.fileExists(
    atPath: sharedDatasets.appendingPathComponent("models/cifar10/akamaster_resnet20.safetensors").path)

/// The README example with `datasets` (../shared/datasets) and `out` (a scratch directory) given.
private func readmeExample(datasets: String, out: URL) throws -> (PTQSearchReport, AssignmentDocument) {
    // README BEGIN
    let weights = "\(datasets)/models/cifar10/akamaster_resnet20.safetensors"

    // 1. Search ResNet-20 at W4A8 over the four PTQ candidates (annealed schedule, §6.2 selection, refinement).
    var options = PTQSearchOptions(model: "resnet20", weights: weights, data: "\(datasets)/cifar10",
                                   ptq: PTQSettings(weightBits: 4, activationBits: 8, eqMaxImages: 16))
    options.calib = 64; options.valImages = 64; options.limit = 200; options.quiet = true   // a quick look
    let report = try PTQSearchRun.search(options)
    print("FP32 \(report.fp32Top1) %, DQSS \(report.dqssTop1) %")

    // 2. The assignment: per layer the activation and the weight candidate, with their thresholds.
    let assignment = report.assignmentDocument
    for layer in assignment.layers { print(layer.name, layer.activation, layer.weight) }
    try assignment.writeJSON(to: out.appendingPathComponent("assignment.json"))   // what `dqss export` reads

    // 3. Export: the network with QuantizeLinear/DequantizeLinear at the chosen thresholds (ONNX Runtime).
    let network = try ModelZoo.spec(named: "resnet20").load(weights: URL(fileURLWithPath: weights))
    let layers = try SearchAssignmentSource(assignment, origin: "my search").assignment().layers
    let onnx = try ONNXNetworkExporter.export(network, name: "resnet20", inputShape: [3, 32, 32], quantization: layers)
    try onnx.serialized().write(to: out.appendingPathComponent("resnet20-dqss.onnx"))
    // README END
    return (report, assignment)
}

@Suite("the library API (README: Use as a library)")
struct LibraryAPITests {
    @Test("the README example runs: search, assignment, ONNX export", .enabled(if: sharedDataReady, "skipped: ../shared/datasets not found"))
    func readmeExampleRuns() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-library-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: out) }
        let (report, assignment) = try readmeExample(datasets: sharedDatasets.path, out: out)
        #expect(report.fp32Top1 > 85 && report.testImages == 200)
        #expect(assignment.layers.count == 20 && assignment.candidates == ["Max_Abs", "KL", "EQ", "ADMM"])
        #expect(assignment.layers.allSatisfy { assignment.candidates!.contains($0.activation) && assignment.candidates!.contains($0.weight) })
        // The file is the document (one type for writer and reader), and the export read every layer.
        let read = try AssignmentDocument.read(from: out.appendingPathComponent("assignment.json"))
        #expect(read == assignment)
        let onnx = try Data(contentsOf: out.appendingPathComponent("resnet20-dqss.onnx"))
        #expect(onnx.count > 1_000_000)   // 0.27 M float32 weights
    }

    @Test("README.md's Swift example is the code this suite runs")
    func readmeMatches() throws {
        let here = URL(fileURLWithPath: #filePath)
        let readme = try String(contentsOf: here.deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
        let source = try String(contentsOf: here, encoding: .utf8)
        /// The lines after the first one containing `begin`, up to the next one equal to `end` (trimmed).
        func lines(_ text: String, after begin: String, to end: String) -> [String] {
            let all = text.components(separatedBy: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let b = all.firstIndex(where: { $0.contains(begin) }),
                  let e = all[(b + 1)...].firstIndex(of: end) else { return [] }
            return Array(all[(b + 1)..<e])
        }
        let tested = lines(source, after: "// README " + "BEGIN", to: "// README " + "END")
        let shown = lines(readme, after: "<!-- library example: Tests/DQSSRunTests/LibraryAPITests.swift -->", to: "```")
        #expect(!tested.isEmpty)
        // The README block: imports, then `datasets`/`out` set, then the tested lines.
        #expect(shown.suffix(tested.count) == ArraySlice(tested), "README:\n\(shown.joined(separator: "\n"))")
    }
}
