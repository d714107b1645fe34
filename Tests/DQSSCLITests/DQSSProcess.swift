import Foundation

/// `<package root>/../shared/datasets`.
let sharedDatasets = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/datasets")
/// `swift test` builds every product into the folder that holds the test bundle.
let dqssExecutable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    .appendingPathComponent("dqss")
/// The shared CIFAR-10 data and the built executable are both present.
let cifarCLITestsReady =
    FileManager.default.fileExists(atPath: sharedDatasets.appendingPathComponent("cifar10/manifest.json").path)
    && FileManager.default.isExecutableFile(atPath: dqssExecutable.path)

/// A pretrained CIFAR-10 model file of ../shared/datasets by its stem, e.g. "akamaster_resnet20".
func sharedWeights(_ stem: String) -> String {
    sharedDatasets.appendingPathComponent("models/cifar10/\(stem).safetensors").path
}

/// Run the built `dqss` with `arguments`; returns (exit status, stdout, stderr).
func runDQSS(_ arguments: [String]) throws -> (Int32, String, String) {
    let p = Process()
    p.executableURL = dqssExecutable
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Read both pipes to the end before waiting, so a full pipe cannot block the child (stderr is read on
    // another thread while stdout drains here).
    nonisolated(unsafe) var e = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        e = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// Correct predictions of ONNX Runtime on the whole `test` split (scripts/ort_eval.py), nil without it.
func onnxRuntimeCorrect(_ model: String) throws -> Int? {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let probe = Process()
    probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    probe.arguments = ["python3", "-c", "import onnxruntime, numpy"]
    probe.standardError = FileHandle.nullDevice
    try probe.run(); probe.waitUntilExit()
    guard probe.terminationStatus == 0 else { return nil }
    let p = Process(), out = Pipe()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", root.appendingPathComponent("scripts/ort_eval.py").path, model,
                   "--data", sharedDatasets.appendingPathComponent("cifar10").path, "--split", "test"]
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return text.split(separator: "\n").last.flatMap { Int($0.split(separator: "/").first?.trimmingCharacters(in: .whitespaces) ?? "") }
}
