// What `dqss qat --out DIR` and `dqss search --mode qat --out DIR` write: the PTQ search's files (one
// schema for both searches) plus the trained network, since a QAT run changes the weights:
//   network.h5       the final network — weights, quantizer parameters, BatchNorm statistics, α/β — as a
//                    sealed checkpoint; `dqss export --from DIR` exports exactly it, whose top-1 is the
//                    report's `network_top1` (the derived network, after BatchNorm re-estimation if it ran)
//   search.json      (DQSS) / qat.json (one candidate): the report, as --json prints it
//   assignment.json  (DQSS) the derived assignment in the PTQ search's schema with θ and θ margins; its
//                    task "search-qat" makes `dqss export` refuse it without the network (other weights)
//   layers.md        (DQSS) the per-layer table: choice, θ margin and θ of every layer and side
//   figure4.svg, theta.svg (DQSS): layers per candidate, θ per layer;
//   loss.svg         the training loss (and test top-1 where evaluated) per epoch; top1.svg the rows as bars
// Every file is written atomically (temp + rename): an interrupted run never leaves a half-written one.

import Foundation
import DQSSFormats
import DQSSCheckpoint

extension QATReport {
    /// Write the output directory (file header). `network`: the checkpoint of the final state.
    /// - Throws: `QATRunError` naming the file that could not be written.
    public func write(to directory: URL, network: Checkpoint, log: ProgressLog) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw QATRunError("--out: cannot create \(directory.path): \(error)")
        }
        var names: [String] = []
        func written(_ name: String, _ body: (URL) throws -> Void) throws {
            let url = directory.appendingPathComponent(name)
            do { try body(url) } catch { throw QATRunError("--out: cannot write \(url.path): \(error)") }
            names.append(name)
        }
        func text(_ name: String, _ s: String) throws { try written(name) { try AtomicFile.write(Data(s.utf8), to: $0) } }
        let networkName = CheckpointDirectory.finalNetworkName
        try written(networkName) { _ in try CheckpointWriter(directory: directory, keep: 1).write(network, named: networkName) }
        try written(method == "dqss" ? "search.json" : "qat.json") { try writeJSON(to: $0) }
        if let layers = assignment, let candidates {
            var doc = try CheckpointSummary.derivedAssignment(network, file: directory.appendingPathComponent(networkName).path)
            doc.source = "derived (winner-take-all) network of the QAT search (\(searchSchedule ?? "")), trained with it: "
                + "\(networkName) beside this file"
            doc.weights = weights
            let byName = Dictionary(layers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            doc.layers = doc.layers.map { l in
                var l = l
                if let r = byName[l.name] {
                    (l.thetaActivation, l.thetaWeight) = (r.thetaActivation, r.thetaWeight)
                    (l.activationMargin, l.weightMargin) = (r.activationMargin, r.weightMargin)
                }
                return l
            }
            try written("assignment.json") { try doc.writeJSON(to: $0) }
            try text("layers.md", layerTable(doc.layers, candidates: candidates))
            try text("figure4.svg", AssignmentChart.svg(
                title: "\(model) W\(bits)A\(bits) QAT: layers per strategy (DQSS derived)", candidates: candidates,
                series: [("activations", activationCounts ?? [:]), ("weights", weightCounts ?? [:])]))
            try text("theta.svg", ThetaHeatmap.svg(
                title: "\(model) W\(bits)A\(bits) QAT: θ per layer at the final temperature (outlined: the derived choice)",
                candidates: candidates, rows: doc.layers.thetaHeatmapRows(candidates: candidates)))
        }
        try text("loss.svg", LineChart.svg(title: "\(model) \(method) W\(bits)A\(bits): training loss per epoch",
                                           xLabel: "epoch (warm-up first)", yLabel: "cross-entropy", series: lossSeries))
        try text("top1.svg", Top1BarChart.svg(title: "\(model) \(method) W\(bits)A\(bits) on \(split): top-1", bars: top1Bars))
        log.line("wrote \(directory.path)/" + names.joined(separator: ", "))
    }

    /// Loss per epoch (x = epoch counted from the first warm-up epoch).
    var lossSeries: [LineSeries] {
        let points = history.enumerated().map { (x: Double($0.offset + 1), y: $0.element.loss) }
        return [LineSeries(name: "training loss", points: points)]
    }

    /// FP32 (when evaluated), the soft mixture, the reported network, the BN re-estimated one.
    var top1Bars: [Top1Bar] {
        var bars: [Top1Bar] = []
        if let fp32Top1 { bars.append(Top1Bar(label: "FP32", top1: fp32Top1)) }
        if let softTop1 { bars.append(Top1Bar(label: "soft mixture", top1: softTop1)) }
        let saved = network != nil && derivedBnTop1 == nil
        bars.append(Top1Bar(label: method == "dqss" ? "derived" : method, top1: top1, highlighted: saved))
        if let derivedBnTop1 { bars.append(Top1Bar(label: "derived, BN re-estimated", top1: derivedBnTop1, highlighted: network != nil)) }
        return bars
    }

    /// layers.md: one row per quantized layer.
    func layerTable(_ layers: [AssignmentLayer], candidates: [String]) -> String {
        func f(_ v: [Double]?) -> String { (v ?? []).map { String(format: "%.3f", $0) }.joined(separator: " ") }
        func m(_ v: Double?) -> String { v.map { String(format: "%.3g", $0) } ?? "" }
        var lines = ["# \(model) W\(bits)A\(bits) QAT search: the derived assignment", "",
                     "θ at the final temperature, candidates in the order \(candidates.joined(separator: ", ")); "
                     + "margin = top minus second θ (near 0 = not decided).", "",
                     "| layer | activation | margin | θ_α | weight | margin | θ_β |", "|---|---|---|---|---|---|---|"]
        for l in layers {
            lines.append("| \(l.name) | \(l.activation) | \(m(l.activationMargin)) | \(f(l.thetaActivation)) | \(l.weight) | \(m(l.weightMargin)) | \(f(l.thetaWeight)) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
