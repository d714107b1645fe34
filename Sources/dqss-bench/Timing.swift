// Timing helpers: clocks, medians over repeats after a warm-up, the machine's load at the time, and the
// --json printer of every dqss-bench command.

import ArgumentParser
import Dispatch
import Foundation

/// Which statistic `medianSeconds` reports: the median (default, what reports quote) or the minimum
/// (`--statistic min`, the least disturbed run: useful for tuning on a busy machine). Set once at start.
enum TimingStatistic: String, Codable, CaseIterable, ExpressibleByArgument { case median, min }
nonisolated(unsafe) var timingStatistic = TimingStatistic.median

/// Monotonic wall-clock time in seconds.
func wallSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

/// CPU time of the whole process (every thread) in seconds.
func cpuSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Median (or minimum, see `timingStatistic`) wall time in seconds of `body` over `repeats` runs,
/// after `warmup` untimed runs.
func medianSeconds(repeats: Int, warmup: Int = 1, _ body: () -> Void) -> Double {
    for _ in 0..<warmup { body() }
    var times: [Double] = []
    for _ in 0..<max(1, repeats) {
        let t0 = wallSeconds()
        body()
        times.append(wallSeconds() - t0)
    }
    return statistic(of: times)
}

/// (wall ms, CPU ms) statistic of `body` over `repeats` runs after one warm-up run.
func wallAndCPUMilliseconds(repeats: Int, _ body: () -> Void) -> (wall: Double, cpu: Double) {
    body()
    var wall: [Double] = [], cpu: [Double] = []
    for _ in 0..<max(1, repeats) {
        let c0 = cpuSeconds(), t0 = wallSeconds()
        body()
        wall.append((wallSeconds() - t0) * 1e3)
        cpu.append((cpuSeconds() - c0) * 1e3)
    }
    return (statistic(of: wall), statistic(of: cpu))
}

/// Like `medianSeconds` for four bodies timed in turn within each repeat (one warm-up round).
func interleavedSeconds(repeats: Int, _ a: () -> Void, _ b: () -> Void, _ c: () -> Void, _ d: () -> Void)
    -> (Double, Double, Double, Double) {
    var times = [[Double]](repeating: [], count: 4)
    for round in 0...max(1, repeats) {
        for i in 0..<4 {
            let t0 = wallSeconds()
            switch i { case 0: a(); case 1: b(); case 2: c(); default: d() }
            if round > 0 { times[i].append(wallSeconds() - t0) }
        }
    }
    let s = times.map { statistic(of: $0) }
    return (s[0], s[1], s[2], s[3])
}

func statistic(of values: [Double]) -> Double {
    let t = values.sorted()
    if timingStatistic == .min { return t[0] }
    let m = t.count / 2
    return t.count % 2 == 1 ? t[m] : (t[m - 1] + t[m]) / 2
}

/// The machine's load: /proc/loadavg and the busiest other processes (other builds skew timings).
struct MachineLoad: Codable {
    var loadavg: String
    var busiest: [String]

    static func sample() -> MachineLoad {
        let avg = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unavailable"
        var busiest: [String] = []
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/ps")
        p.arguments = ["-eo", "pcpu,comm", "--sort=-pcpu"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        if (try? p.run()) != nil {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").dropFirst()
            busiest = lines.prefix(5).map { $0.trimmingCharacters(in: .whitespaces) }
        }
        return MachineLoad(loadavg: avg, busiest: busiest)
    }
}

/// Progress and human-readable output go to stderr when --json is set, so stdout is one JSON object.
struct Reporter {
    let json: Bool
    let quiet: Bool
    func line(_ s: String) {
        if quiet && json { return }
        if json { FileHandle.standardError.write(Data((s + "\n").utf8)) } else { print(s) }
    }
}

/// One JSON object (keys sorted): the --json output of every dqss-bench command.
func jsonString<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

func printJSON<T: Encodable>(_ value: T) throws { print(try jsonString(value)) }
