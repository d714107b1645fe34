// The super-resolution task of the search pipeline (`dqss search --task sr`, ALGORITHMS.md §10.1, §9 #11):
// PSNR/SSIM of every test set as one report row per evaluation; the §6.2 score adapted to SR, the mean
// absolute difference between the quantized and the FP32 network's outputs on held-out patches
// (label-free, like the KL to the FP32 softmax); L1 to a target image as the search loss.

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSModels
import DQSSDistributed

/// PSNR/SSIM rows on the test sets, mean |y_q − y_FP32| on held-out patches, L1 search (file header).
struct SRSearchTask: SearchTask {
    let bench: SRBenchmark
    let tile: Int?
    let overlap: Int
    /// Save every row's output images under `<savePng>/<row label>`.
    let savePng: String?
    let log: RankLog
    /// Held-out LR batches and the FP32 network's outputs of them (empty without selection).
    let validation: [Tensor]
    let reference: [Tensor]
    let pairs: Int
    let loss: any SearchLoss

    init(bench: SRBenchmark, tile: Int?, overlap: Int, savePng: String?, log: RankLog, network: any UnaryLayer,
         validation: [Tensor], pairs: Int, loss: any SearchLoss) {
        self.bench = bench
        self.tile = tile
        self.overlap = overlap
        self.savePng = savePng
        self.log = log
        network.setTraining(false)
        self.validation = validation
        reference = validation.map { network.forward($0).copy() }
        self.pairs = pairs
        self.loss = loss
    }

    /// The row label of each stage (the paper's Table 2 rows).
    static func label(_ stage: SearchStage) -> String {
        switch stage {
        case .fp32: "FP32"
        case .uniform(let name): name
        case .dqssNone: "DQSS-None"
        case .derived: "DQSS"
        case .refined: "DQSS (selected + refined)"
        case .refinedFrom(let start): "DQSS (refined from \(start), not kept)"
        case .peer(let name): name
        }
    }

    func evaluate(_ network: any UnaryLayer, _ stage: SearchStage) throws -> SRSearchRow {
        let label = Self.label(stage), start = Date()
        let scores = try bench.evaluate(network, tile: tile, overlap: overlap, saveDirectory: savePng.map {
            URL(fileURLWithPath: $0).appendingPathComponent(label.replacingOccurrences(of: " ", with: "_"))
        })
        let row = SRSearchRow(method: label, sets: Dictionary(uniqueKeysWithValues: scores.map { ($0.name, $0) }),
                              seconds: Date().timeIntervalSince(start))
        log.progress(String(format: "%-10@ ", label) + scores.map {
            String(format: "%@ %.4f / %.4f", $0.name, $0.psnr, $0.ssim)
        }.joined(separator: ", ") + String(format: "  (%.1f s)\n", row.seconds))
        return row
    }

    var hasHeldOutData: Bool { !validation.isEmpty }

    func score(_ network: any UnaryLayer) -> Double {
        var total = 0.0, n = 0
        for (b, ref) in zip(validation, reference) {
            let y = network.forward(b)
            for i in 0..<y.count { total += Double(abs(y.data[i] - ref.data[i])) }
            n += y.count
        }
        return total / Double(max(n, 1))
    }

    var scoreDescription: String { "\(pairs) held-out pairs (mean |y_q - y_FP32|)" }

    /// One row per stage: the refined network is evaluated (and its images saved) even when unchanged.
    var evaluatesRefinedNetwork: Bool { true }
}
