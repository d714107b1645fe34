// Launching processes for the end-to-end data-parallel tests: `mpirun --oversubscribe` (plus
// --allow-run-as-root as root) and plain processes, each under `timeout` so a hang fails the test instead
// of blocking the suite; the executables and data those tests use, and when they can run.

import Foundation

/// The test helper executable (Sources/dqss-mpitest) and `dqss`, both built next to this test bundle.
let mpiTestExecutable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    .appendingPathComponent("dqss-mpitest")
let dqssExecutable = mpiTestExecutable.deletingLastPathComponent().appendingPathComponent("dqss")
/// `<package root>/../shared/datasets`.
let sharedDatasetsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/datasets")

private func findInPath(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

private let mpirun = findInPath("mpirun")
/// mpirun and dqss-mpitest are present.
let mpiReady = mpirun != nil && FileManager.default.isExecutableFile(atPath: mpiTestExecutable.path)
/// mpirun, the built dqss and the shared CIFAR-10 data are present (end-to-end dqss runs under mpirun).
let dqssMPIReady = mpirun != nil && FileManager.default.isExecutableFile(atPath: dqssExecutable.path)
    && FileManager.default.fileExists(atPath: sharedDatasetsDirectory.appendingPathComponent("cifar10/manifest.json").path)

struct Launch {
    var status: Int32
    var stdout: String
    var stderr: String
    var seconds: Double
}

/// Runs `arguments[0]` with the rest, under `timeout -k 5 <limit>` when available; status 124 = timed out.
func launch(_ arguments: [String], environment extra: [String: String] = [:], limit: Int = 60) throws -> Launch {
    let p = Process()
    var args = arguments
    if let t = findInPath("timeout") { args = [t, "-k", "5", "\(limit)"] + args }
    p.executableURL = URL(fileURLWithPath: args[0])
    p.arguments = Array(args.dropFirst())
    var env = ProcessInfo.processInfo.environment
    for (k, v) in extra { env[k] = v }
    env["OPENBLAS_NUM_THREADS"] = "1"
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let start = Date()
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Launch(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                  stderr: String(decoding: e, as: UTF8.self), seconds: Date().timeIntervalSince(start))
}

/// mpirun -np `ranks` dqss-mpitest `arguments`.
func mpi(_ ranks: Int, _ arguments: [String], environment: [String: String] = [:]) throws -> Launch {
    try launchMPI(ranks, mpiTestExecutable, arguments, environment: environment)
}

/// mpirun -np `ranks` `program` `arguments` (oversubscribed, unbound, as root if need be).
func launchMPI(_ ranks: Int, _ program: URL, _ arguments: [String], environment: [String: String] = [:],
               limit: Int = 60) throws -> Launch {
    var a = [mpirun!, "-np", "\(ranks)", "--oversubscribe", "--bind-to", "none"]
    if getuid() == 0 { a.append("--allow-run-as-root") }
    for k in environment.keys.sorted() { a += ["-x", k] }
    return try launch(a + [program.path] + arguments, environment: environment, limit: limit)
}
