// Timing helpers: medians over repeats after a warm-up, and the machine's load at the time.

import Dispatch
import Foundation

/// Which statistic `medianSeconds` reports: the median (default, what reports quote) or the minimum
/// (`--statistic min`, the least disturbed run: useful for tuning on a busy machine). Set once at start.
enum TimingStatistic: String, Codable { case median, min }
nonisolated(unsafe) var timingStatistic = TimingStatistic.median

/// Median (or minimum, see `timingStatistic`) wall time in seconds of `body` over `repeats` runs,
/// after `warmup` untimed runs.
func medianSeconds(repeats: Int, warmup: Int = 1, _ body: () -> Void) -> Double {
    for _ in 0..<warmup { body() }
    var times: [Double] = []
    for _ in 0..<max(1, repeats) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
    }
    return statistic(of: times)
}

/// Like `medianSeconds` for four bodies timed in turn within each repeat (one warm-up round).
func interleavedSeconds(repeats: Int, _ a: () -> Void, _ b: () -> Void, _ c: () -> Void, _ d: () -> Void)
    -> (Double, Double, Double, Double) {
    var times = [[Double]](repeating: [], count: 4)
    for round in 0...max(1, repeats) {
        for i in 0..<4 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            switch i { case 0: a(); case 1: b(); case 2: c(); default: d() }
            if round > 0 { times[i].append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9) }
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
