// Issue 6's acceptance for QAT: `dqss search --mode qat` on 2 ranks gives the α/β (to float tolerance
// from summation order) and the assignment of 1 rank with the same global batch and seed. That holds
// with synchronised BatchNorm (--sync-bn) only: with per-rank BN every layer normalises with half the
// batch's statistics, a different function of the weights. --sync-bn also combines every warm-up
// observation over the ranks as it is made (the observing forward quantizes layer after layer with what
// it has seen). Measured: max |Δ logit| ~1e-8, losses equal to ~1e-8; per-rank BN: |Δ logit| ~5e-2.
//
// Same global batch on 1 and 2 ranks: --train-limit = --batch, so every step (warm-up included) uses all
// training images whatever the rank count (each rank shuffles its own shard, so with several steps per
// epoch the batches themselves would differ), and the augmentation is seeded by the global image index.
//
// What is compared, and why only after ONE training step: the two runs differ in float summation order
// (per-rank partial sums, allreduce), by about 1e-8 relative on this machine's OpenBLAS and more on
// others. One step turns that into α/β differences of the same order. Every further step is a
// quantized network trained on weights that differ in the last bits; a weight on a rounding boundary of
// the 4-bit grid then flips, and the trajectories part for reasons that have nothing to do with
// synchronised BatchNorm (seen on another machine: losses equal through warm-up and step 1, then
// 0.01-0.03 apart). So: warm-up and step-1 losses to 1e-4 relative, α/β to 1e-4 absolute, the
// assignment only where the logit margin exceeds that tolerance, and the BN-re-estimated derived
// network to within one of its 16 evaluation images. Per-rank BN (no --sync-bn) is run too and must
// miss those tolerances by far, so the comparison has power to fail.

import Foundation
import Testing

/// The parts of `dqss search --mode qat --json` compared here (the one assignment schema: `assignment` is
/// the list of layers, `candidates` beside it).
private struct QATSearchJSON: Decodable {
    struct Epoch: Decodable { var phase: String; var loss: Double }
    struct Layer: Decodable { var name: String; var activation: String; var weight: String; var alpha: [Float]; var beta: [Float] }
    var ranks: Int
    var batchnorm: String
    var replicas_identical: Bool?
    var derived_bn_top1: Double?
    var bn_reestimate_images: Int?
    var history: [Epoch]
    var candidates: [String]
    var assignment: [Layer]

    var logits: [Float] { assignment.flatMap { $0.alpha + $0.beta } }
    var choices: [String] { assignment.map { "\($0.name):\($0.activation)/\($0.weight)" } }

    /// Per layer and side (α, β): the chosen candidate and its logits.
    var decisions: [(name: String, choice: String, logits: [Float])] {
        assignment.flatMap { [("\($0.name).alpha", $0.activation, $0.alpha), ("\($0.name).beta", $0.weight, $0.beta)] }
    }
}

/// Decisions of `b` that differ from `a`'s, split into genuine differences and ties: candidates whose
/// logits in `a` are within `tolerance` (e.g. the PACT and DSQ weight branches both start from max|W| and
/// quantize W identically, so their β logits receive identical gradients and differ only by rounding;
/// the argmax between them is then decided by the last bit, on any number of ranks).
private func compareAssignments(_ a: QATSearchJSON, _ b: QATSearchJSON, tolerance: Float)
    -> (differences: [String], ties: [String]) {
    var differences: [String] = [], ties: [String] = []
    let index = Dictionary(uniqueKeysWithValues: a.candidates.enumerated().map { ($1, $0) })
    for (x, y) in zip(a.decisions, b.decisions) where x.choice != y.choice {
        guard let i = index[x.choice], let j = index[y.choice] else { differences.append(x.name); continue }
        if abs(x.logits[i] - x.logits[j]) <= tolerance {
            ties.append("\(x.name) \(x.choice)/\(y.choice)")
        } else {
            differences.append("\(x.name) \(x.choice) vs \(y.choice)")
        }
    }
    return (differences, ties)
}

/// Stated tolerances of the 2-rank vs 1-process comparison (summation order only; see the header).
private let logitTolerance: Float = 1e-4
private let lossTolerance = 1e-4

private func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
}

@Suite("mpirun synchronised BatchNorm", .serialized,
       .enabled(if: dqssMPIReady, "skipped: mpirun, the built dqss executable or ../shared/datasets/cifar10 not found"))
struct MPISyncBatchNormTests {
    @Test("dqss search --mode qat --sync-bn: 2 ranks = 1 process (same global batch and seed) in α/β, assignment, losses and the BN-re-estimated derived network")
    func syncBatchNormMatchesOneProcess() throws {
        let d = sharedDatasetsDirectory
        // 1 warm-up + 1 training step of the global batch of 32 (16 per rank). --lr-theta is large so that
        // α/β move well away from their initial 0.1 and the argmax assignment is mostly not a tie-break.
        let args = ["search", "--mode", "qat", "--model", "resnet20",
                    "--weights", d.appendingPathComponent("models/cifar10/akamaster_resnet20.safetensors").path,
                    "--data", d.appendingPathComponent("cifar10").path, "--train-limit", "32", "--batch", "32",
                    "--epochs", "1", "--warmup-epochs", "1", "--eval-every", "0", "--limit", "16",
                    "--lr-theta", "5", "--seed", "5", "--threads", "1", "--json",
                    // SGD on α/β: the subject here is BatchNorm; Adam's first step (lr · sign(g)) would turn
                    // gradients that differ in the last bits into full steps of opposite sign.
                    "--schedule", "paper"]
        let one = try launch([dqssExecutable.path] + args + ["--sync-bn"], limit: 120)
        #expect(one.status == 0, "\(one.stderr)")
        let two = try launchMPI(2, dqssExecutable, args + ["--sync-bn"], limit: 120)
        #expect(two.status == 0, "\(two.stderr)")
        #expect(two.stderr.contains("warm-up observers synchronised over the ranks"), "\(two.stderr)")
        let a = try JSONDecoder().decode(QATSearchJSON.self, from: Data(one.stdout.utf8))
        let b = try JSONDecoder().decode(QATSearchJSON.self, from: Data(two.stdout.utf8))
        #expect(a.ranks == 1 && b.ranks == 2)
        #expect(a.batchnorm == "synchronised" && b.batchnorm == "synchronised")
        #expect(b.replicas_identical == true)

        // The search moved the logits (not a comparison of two untouched states).
        let moved = a.logits.map { abs($0 - 0.1) }.max() ?? 0
        #expect(moved > 1e-2, "max |α − 0.1| = \(moved)")
        let dLogit = maxDifference(b.logits, a.logits)
        #expect(a.logits.count == b.logits.count && dLogit < logitTolerance, "max |Δ logit| 2 ranks vs 1: \(dLogit) (moved \(moved))")
        #expect(a.choices.count == b.choices.count)
        let (differences, ties) = compareAssignments(a, b, tolerance: logitTolerance)
        #expect(differences.isEmpty, "assignment differs where the margin exceeds \(logitTolerance): \(differences)")
        if !ties.isEmpty { print("sync-bn: decisions with a margin under \(logitTolerance) (not compared): \(ties)") }
        #expect(a.history.count == 2 && b.history.count == 2, "warm-up + 1 step: \(a.history.map(\.phase))")
        for (x, y) in zip(a.history, b.history) {
            #expect(abs(x.loss - y.loss) <= lossTolerance * abs(y.loss), "\(x.phase) loss \(x.loss) vs \(y.loss)")
        }
        // BatchNorm re-estimation of the derived network (default on): the same 32 training images, one batch
        // of 32 on one rank, one of 16 per rank with synchronised statistics on two: the same network up to
        // the float differences above, so its top-1 on the 16 evaluation images within one image.
        #expect(a.bn_reestimate_images == 32 && b.bn_reestimate_images == 32)
        if let x = a.derived_bn_top1, let y = b.derived_bn_top1 {
            #expect(abs(x - y) <= 100.0 / 16 + 1e-9, "derived network with BN re-estimated: \(x) vs \(y) %")
        } else {
            Issue.record("derived_bn_top1 missing: \(String(describing: a.derived_bn_top1)), \(String(describing: b.derived_bn_top1))")
        }

        // On one rank the flag changes nothing (no reducer is installed): bit-identical logits.
        let plain = try launch([dqssExecutable.path] + args, limit: 120)
        #expect(plain.status == 0, "\(plain.stderr)")
        let p = try JSONDecoder().decode(QATSearchJSON.self, from: Data(plain.stdout.utf8))
        #expect(p.batchnorm == "per-rank" && p.logits == a.logits)

        // Without --sync-bn the 2-rank run normalises with per-rank statistics: a different trajectory.
        // Not asserted (how far it drifts is the data's business); recorded for the reader.
        let perRank = try launchMPI(2, dqssExecutable, args, limit: 120)
        #expect(perRank.status == 0, "\(perRank.stderr)")
        let c = try JSONDecoder().decode(QATSearchJSON.self, from: Data(perRank.stdout.utf8))
        #expect(c.batchnorm == "per-rank")
        #expect(c.bn_reestimate_images == 32 && c.derived_bn_top1 != nil)   // per-rank statistics averaged over the ranks
        // Power: per-rank statistics are a different function, far outside the tolerances used above.
        let perRankLoss = zip(c.history, a.history).map { abs($0.loss - $1.loss) / abs($1.loss) }.max() ?? 0
        #expect(perRankLoss > 100 * lossTolerance, "per-rank BN should change the losses: max relative difference \(perRankLoss)")
        #expect(maxDifference(c.logits, a.logits) > 100 * logitTolerance, "per-rank BN should change α/β")
        let changed = compareAssignments(a, c, tolerance: logitTolerance).differences.count
        print("sync-bn: max |Δ logit| 2 ranks vs 1 = \(dLogit); per-rank BN: max |Δ logit| = \(maxDifference(c.logits, a.logits)), "
              + "\(changed) of \(a.decisions.count) α/β decisions differ, losses \(c.history.map(\.loss)) vs \(a.history.map(\.loss))")
    }
}
