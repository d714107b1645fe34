// dqss-bench: engine speed measured in one run, as ratios to raw sgemm on the same machine.
//
//   dqss-bench [--threads N] [--repeat R] [--json]          conv + ResNet-20 step figures
//   dqss-bench threads [--repeat R]                          sweep thread counts (picks the default)
//   dqss-bench qat [--depth 20] [--batch 128]               DQSS QAT step vs single-candidate QAT steps
//   mpirun -np R dqss-bench allreduce [--model M] [--batch B] data-parallel step: allreduce after vs during backward

import ArgumentParser
import DQSSTensor
import DQSSLayers
import Foundation

@main
struct DQSSBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dqss-bench",
        abstract: "Measure sgemm, conv forward/backward and a ResNet-20 training step in one run.",
        subcommands: [Run.self, Step.self, ModelStep.self, ThreadSweep.self, Shapes.self, Mixed.self, QATStep.self, Allreduce.self],
        defaultSubcommand: Run.self)
}

struct CommonOptions: ParsableArguments {
    @Option(help: "Threads for OpenBLAS and the parallel loops (default: measured best, \(Threads.defaultCount) here).")
    var threads: Int = Threads.defaultCount
    @Option(name: .customLong("repeat"), help: "Timed repeats per measurement (median reported).")
    var repeats: Int = 5
    @Flag(help: "Print one JSON object on stdout (progress on stderr).")
    var json = false
    @Flag(help: "No progress output.")
    var quiet = false
    @Option(help: "Statistic over repeats: median (reported figures) or min (tuning on a busy machine).")
    var statistic: TimingStatistic = .median

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1 (got \(threads))") }
        guard repeats >= 1 else { throw ValidationError("--repeat must be at least 1 (got \(repeats))") }
        timingStatistic = statistic
    }

    /// Sets the thread count and returns the output (stdout, or stderr with --json).
    func start() -> Reporter {
        Threads.configure(threads)
        return Reporter(json: json, quiet: quiet)
    }
}

struct BenchReport: Codable {
    var threads: Int
    var repeats: Int
    var openblas_core: String
    var sgemm_gflops: Double
    var sgemm_shape: String
    var sgemm_full_n_gflops: Double
    var conv_shape: String
    var conv_forward_gflops: Double
    var conv_backward_gflops: Double
    var conv_forward_ms: Double
    var conv_backward_ms: Double
    var conv_forward_over_sgemm: Double
    var resnet20_step_ms: Double?
    var resnet20_phases_ms: StepTiming?
    var load_before: MachineLoad
    var load_after: MachineLoad
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Conv kernels and ResNet-20 step (default).")
    @OptionGroup var options: CommonOptions
    @Option(help: "Batch size of the conv and step measurements.") var batch: Int = 128
    @Flag(help: "Skip the ResNet-20 step.") var skipStep = false

    func run() throws {
        let out = options.start()
        let before = MachineLoad.sample()
        out.line("load before: \(before.loadavg)  busiest: \(before.busiest.prefix(3).joined(separator: " | "))")
        out.line("OpenBLAS kernels: \(OpenBLASCore.name)")
        out.line("threads \(options.threads), repeats \(options.repeats) (\(options.statistic.rawValue) of repeats)")
        let conv = runConvBench(batch: batch, channels: 64, size: 32, repeats: options.repeats)
        out.line(String(format: "sgemm M=%d N=%d K=%d (x%d chunks): %.1f GFLOP/s   (single call N=%d: %.1f)",
                        conv.sgemmM, conv.sgemmN, conv.sgemmK, (batch + conv.chunkImages - 1) / conv.chunkImages,
                        conv.sgemmGflops, batch * 1024, conv.sgemmFullNGflops))
        out.line("conv \(conv.shape) forward:  " + String(format: "%.1f GFLOP/s (%.1f ms)  = %.0f%% of sgemm",
                        conv.convForwardGflops, conv.convForwardMs, 100 * conv.convForwardGflops / conv.sgemmGflops))
        out.line("conv \(conv.shape) backward: " + String(format: "%.1f GFLOP/s (%.1f ms, data+weight)",
                        conv.convBackwardGflops, conv.convBackwardMs))
        var step: StepTiming? = nil
        if !skipStep {
            let s = resnet20Step(batch: batch, repeats: options.repeats)
            step = s
            out.line(String(format: "ResNet-20 training step, batch %d: %.1f ms (forward+loss %.1f, backward %.1f, SGD %.1f;"
                            + " CPU time %.1f ms over all threads)  [PyTorch, 2 threads: ~300 ms; target <= 450]",
                            batch, s.stepMs, s.forwardMs, s.backwardMs, s.updateMs, s.cpuMs))
        }
        let after = MachineLoad.sample()
        out.line("load after: \(after.loadavg)")
        if options.json {
            let report = BenchReport(
                threads: options.threads, repeats: options.repeats, openblas_core: OpenBLASCore.name,
                sgemm_gflops: conv.sgemmGflops, sgemm_shape: "M=\(conv.sgemmM) N=\(conv.sgemmN) K=\(conv.sgemmK)",
                sgemm_full_n_gflops: conv.sgemmFullNGflops, conv_shape: conv.shape,
                conv_forward_gflops: conv.convForwardGflops, conv_backward_gflops: conv.convBackwardGflops,
                conv_forward_ms: conv.convForwardMs, conv_backward_ms: conv.convBackwardMs,
                conv_forward_over_sgemm: conv.convForwardGflops / conv.sgemmGflops,
                resnet20_step_ms: step?.stepMs, resnet20_phases_ms: step, load_before: before, load_after: after)
            try printJSON(report)
        }
    }
}

struct ThreadSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "threads",
        abstract: "Time conv forward+backward and the ResNet-20 step for thread counts 1...cores+1 (how Threads.defaultCount was chosen).")
    @OptionGroup var options: CommonOptions
    @Option(help: "Batch size.") var batch: Int = 128

    func run() throws {
        let out = Reporter(json: options.json, quiet: options.quiet)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var rows: [String: Double] = [:]
        out.line("load: \(MachineLoad.sample().loadavg)")
        for t in 1...(cores + 1) {
            Threads.configure(t)
            let r = runConvBench(batch: batch, channels: 64, size: 32, repeats: options.repeats)
            let ms = r.convForwardMs + r.convBackwardMs
            let step = resnet20Step(batch: batch, repeats: options.repeats)
            rows["conv_ms_\(t)"] = ms
            rows["resnet20_step_ms_\(t)"] = step.stepMs
            out.line(String(format: "threads %d: conv fwd+bwd %.1f ms (fwd %.1f GFLOP/s, sgemm %.1f), ResNet-20 step %.1f ms (CPU %.1f)",
                            t, ms, r.convForwardGflops, r.sgemmGflops, step.stepMs, step.cpuMs))
        }
        if options.json {
            try printJSON(rows)
        }
    }
}

struct Shapes: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Conv forward/backward vs sgemm at each ResNet-20 layer shape (profiling aid).")
    @OptionGroup var options: CommonOptions
    @Option(help: "Batch size.") var batch: Int = 128

    func run() throws {
        let out = options.start()
        out.line("load: \(MachineLoad.sample().loadavg), threads \(options.threads)")
        for (c, s) in [(16, 32), (32, 16), (64, 8), (64, 32)] {
            let r = runConvBench(batch: batch, channels: c, size: s, repeats: options.repeats)
            out.line(String(format: "%3d ch %2dx%-2d: sgemm %5.1f  fwd %5.1f GFLOP/s %6.1f ms  bwd %5.1f GFLOP/s %6.1f ms",
                            c, s, s, r.sgemmGflops, r.convForwardGflops, r.convForwardMs, r.convBackwardGflops, r.convBackwardMs))
        }
        out.line("ResNet-20 layer types at batch \(batch) (time x count in the network):")
        let rows = profileResNet20Layers(batch: batch, repeats: options.repeats)
        for r in rows {
            out.line(String(format: "  %-22@ x%2d  fwd %6.2f ms  bwd %6.2f ms  total %7.1f ms", r.name, r.count, r.forwardMs, r.backwardMs, r.totalMs))
        }
        out.line(String(format: "  sum %.1f ms", rows.reduce(0) { $0 + $1.totalMs }))
    }
}

struct Step: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resnet20-step", abstract: "Only the ResNet-20 training step with the forward/backward/update split and CPU time (profiling aid; `step` is any model).")
    @OptionGroup var options: CommonOptions
    @Option(help: "Batch size.") var batch: Int = 128

    func run() throws {
        let out = options.start()
        out.line("load: \(MachineLoad.sample().loadavg), threads \(options.threads)")
        let s = resnet20Step(batch: batch, repeats: options.repeats)
        out.line(String(format: "ResNet-20 step, batch %d: %.1f ms (forward+loss %.1f, backward %.1f, SGD %.1f; CPU %.1f ms)",
                        batch, s.stepMs, s.forwardMs, s.backwardMs, s.updateMs, s.cpuMs))
        if options.json {
            try printJSON(s)
        }
    }
}
