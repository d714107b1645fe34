// Shared helpers for the model tests: non-trivial BatchNorm statistics and the shared-dataset location.
import DQSSModels

import Foundation
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSRun

/// Give every BatchNorm non-trivial statistics and affine parameters (fresh ones are the identity map,
/// which would hide a missing or misplaced BN in a gradient or shape test).
func randomizeBatchNorms(_ model: any Layer, rng: inout RNG) {
    for (name, t) in model.namedBuffers() {
        if name.hasSuffix("running_mean") { t.fillUniform(-0.5, 0.5, rng: &rng) }
        if name.hasSuffix("running_var") { t.fillUniform(0.5, 1.5, rng: &rng) }
    }
    let bnNames = Set(model.namedBuffers().filter { $0.name.hasSuffix("running_var") }
        .map { String($0.name.dropLast("running_var".count)) })
    for (name, p) in model.namedParameters() {
        let owner = name.hasSuffix(".weight") ? String(name.dropLast("weight".count))
            : name.hasSuffix(".bias") ? String(name.dropLast("bias".count)) : name
        guard bnNames.contains(owner) else { continue }
        if name.hasSuffix("weight") { p.value.fillUniform(0.5, 1.5, rng: &rng) } else { p.value.fillUniform(-0.5, 0.5, rng: &rng) }
    }
}

/// `<package root>/../shared/datasets`, found from this file's path (Tests/DQSSModelsTests/...).
let sharedDatasets: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("shared/datasets")

/// True when the shared CIFAR-10 files and model weights are present.
let sharedDatasetsPresent: Bool = FileManager.default.fileExists(
    atPath: sharedDatasets.appendingPathComponent("cifar10/manifest.json").path)
    && FileManager.default.fileExists(
        atPath: sharedDatasets.appendingPathComponent("models/cifar10/akamaster_resnet20.safetensors").path)

/// Finite-difference check that tolerates ReLU kinks.
///
/// Blocks chain BN -> ReLU many times, so a difference with step ε occasionally straddles the kink of
/// some internal ReLU and that one numeric derivative is off by O(1), however correct the backward is
/// (seen: a BN bias whose central difference moves from -0.62 to -0.52 to -0.477 as ε shrinks, analytic
/// -0.4772). With BN in evaluation mode these networks are piecewise LINEAR in the input and in any
/// single scalar parameter (every op is affine in it, or ReLU/ReLU6/max-pool). So away from a kink the
/// forward difference (L(v+ε) − L(v))/ε, the backward one and the central one are all exact up to float
/// rounding, and a kink spoils at most the sides it lies on. An element passes when any of the three
/// agrees with the analytic gradient within `tolerance` times the tensor's largest analytic gradient
/// (floored, see below);
/// a wiring error (a gradient not summed, a branch skipped, a channel offset) fails all three.
/// Returns (name, bad, checked) for every tensor with a failing element (empty = pass).
func kinkTolerantGradientCheck(_ layer: any UnaryLayer, input x: Tensor, epsilon: Float = 1e-3,
                               samples: Int = 32, tolerance: Double = 1e-2,
                               seed: UInt64 = 3) -> [(name: String, bad: Int, checked: Int)] {
    var rng = RNG(seed: seed)
    let y0 = layer.forward(x)
    let g = Tensor.uniform(y0.shape, -1, 1, rng: &rng)
    func loss() -> Double { layer.forward(x).dot(g) }
    let l0 = loss()
    layer.zeroGradients()
    let dx = layer.backward(g).copy()
    var tensors: [(String, Tensor, Tensor)] = [("input", x, dx)]
    for p in layer.namedParameters() { tensors.append((p.name, p.parameter.value, p.parameter.grad.copy())) }
    // Float32 rounding of L puts a noise floor under every numeric derivative (about 1e-3 here). A
    // tensor whose true gradient is ~0 (a BN bias cancelled by the next training-mode BN) would be
    // judged against that noise alone, so scales are floored at 1 % of the layer's largest gradient.
    let globalScale = tensors.map { Double($0.2.maxAbs()) }.max() ?? 0
    var failures: [(name: String, bad: Int, checked: Int)] = []
    for (name, value, analytic) in tensors {
        let idx = value.count <= samples ? Array(0..<value.count) : (0..<samples).map { _ in rng.int(below: value.count) }
        let scale = max(Double(analytic.maxAbs()), 1e-2 * globalScale, 1e-4)
        var bad = 0
        for i in idx {
            let old = value.data[i]
            value.data[i] = old + epsilon
            let lp = loss()
            value.data[i] = old - epsilon
            let lm = loss()
            value.data[i] = old
            let e = Double(epsilon), a = Double(analytic.data[i])
            let estimates = [(lp - lm) / (2 * e), (lp - l0) / e, (l0 - lm) / e]
            if !estimates.contains(where: { abs($0 - a) <= tolerance * scale }) { bad += 1 }
        }
        if bad > 0 { failures.append((name, bad, idx.count)) }
    }
    return failures
}

/// A split of the shared CIFAR-10 directory as a batch closure for `evaluateTop1`.
func loadCIFARSplit(_ split: String, normalization: Normalization)
    throws -> (count: Int, batch: (Range<Int>) throws -> (images: Tensor, labels: [Int])) {
    let data = try CIFAR10Dataset(directory: sharedDatasets.appendingPathComponent("cifar10"), split: split)
    let images = Tensor(shape: [0])
    return (data.count, { range in (images, data.fillBatch(range: range, into: images, normalization: normalization)) })
}
