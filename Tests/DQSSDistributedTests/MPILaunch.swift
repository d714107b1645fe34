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
    var a = mpirunArguments(ranks)
    for k in environment.keys.sorted() { a += ["-x", k] }
    return try launch(a + [program.path] + arguments, environment: environment, limit: limit)
}

/// The package's `cluster/` folder (run-local.sh).
let clusterDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("cluster")

/// A process started in the background (under `timeout`, like `launch`), its stdout and stderr collected,
/// for tests that signal a running job.
final class BackgroundLaunch: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var out = Data(), err = Data()
    private let group = DispatchGroup()
    private let start = Date()

    init(_ arguments: [String], environment extra: [String: String] = [:], limit: Int = 120) throws {
        var args = arguments
        if let t = findInPath("timeout") { args = [t, "-k", "5", "\(limit)"] + args }
        process.executableURL = URL(fileURLWithPath: args[0])
        process.arguments = Array(args.dropFirst())
        var env = ProcessInfo.processInfo.environment
        for (k, v) in extra { env[k] = v }
        env["OPENBLAS_NUM_THREADS"] = "1"
        process.environment = env
        let o = Pipe(), e = Pipe()
        process.standardOutput = o
        process.standardError = e
        try process.run()
        for (pipe, isOut) in [(o, true), (e, false)] {
            group.enter()
            DispatchQueue.global().async { [self] in
                let d = pipe.fileHandleForReading.readDataToEndOfFile()
                lock.lock(); if isOut { out = d } else { err = d }; lock.unlock()
                group.leave()
            }
        }
    }

    /// Waits for the end; status 124 = timed out.
    func finish() -> Launch {
        group.wait()
        process.waitUntilExit()
        lock.lock(); defer { lock.unlock() }
        return Launch(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                      stderr: String(decoding: err, as: UTF8.self), seconds: Date().timeIntervalSince(start))
    }

    /// Every process below this one (children, grandchildren, ...), from /proc.
    func descendants() -> [Int32] {
        var parent: [Int32: Int32] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 2, let ppid = Int32(fields[1]) { parent[pid] = ppid }
        }
        var found: [Int32] = [], frontier = [process.processIdentifier]
        while let p = frontier.popLast() {
            let children = parent.filter { $0.value == p }.map(\.key)
            found += children
            frontier += children
        }
        return found
    }

    /// The descendant whose command line contains `word` and, if given, whose environment holds
    /// OMPI_COMM_WORLD_RANK=`rank`.
    func descendant(running word: String, rank: Int? = nil) -> Int32? {
        descendants().first { pid in
            let cmd = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
            guard String(decoding: cmd, as: UTF8.self).contains(word) else { return false }
            guard let rank else { return true }
            let env = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
            return env.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == "OMPI_COMM_WORLD_RANK=\(rank)" }
        }
    }
}

/// The arguments of `mpirun -np ranks` as `launchMPI` builds them (oversubscribed, unbound, as root if need be).
func mpirunArguments(_ ranks: Int) -> [String] {
    var a = [mpirun!, "-np", "\(ranks)", "--oversubscribe", "--bind-to", "none"]
    if getuid() == 0 { a.append("--allow-run-as-root") }
    return a
}
