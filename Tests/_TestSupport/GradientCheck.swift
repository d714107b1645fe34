// Finite-difference gradient checks for layers with hand-written backward passes.
//
// Method: pick a fixed random upstream gradient G and use the scalar L(x, θ) = ⟨G, f(x; θ)⟩ (accumulated
// in Double). The backward with G gives dL/dx and dL/dθ; central differences (L(v+ε) − L(v−ε)) / 2ε
// estimate the same numbers. Float32 forward passes limit precision, so errors are normalised by the
// largest analytic gradient of the tensor: error = max_i |analytic_i − numeric_i| / max(max_i |analytic_i|, floor).
// Checks sample up to `maxChecks` elements per tensor (all of them for small tensors).

import DQSSTensor
import DQSSLayers

public struct GradientCheckResult: CustomStringConvertible, Sendable {
    /// Per checked tensor ("input", "weight", ...): the normalised maximum error.
    public var errors: [(name: String, error: Double)]
    public var maxError: Double { errors.map(\.error).max() ?? 0 }
    public var description: String {
        errors.map { "\($0.name): \(String(format: "%.2e", $0.error))" }.joined(separator: ", ")
    }
}

/// Normalised max error between an analytic and a numeric gradient.
public func normalisedError(_ analytic: [Double], _ numeric: [Double], floor: Double = 1e-6) -> Double {
    let scale = max(analytic.map(abs).max() ?? 0, numeric.map(abs).max() ?? 0, floor)
    var e = 0.0
    for (a, n) in zip(analytic, numeric) { e = max(e, abs(a - n)) }
    return e / scale
}

/// Check the input gradient and every parameter gradient of `layer` at input `x`.
/// - Parameters:
///   - epsilon: central-difference step (Float32 forward: 1e-2 to 1e-3 works for smooth layers).
///   - maxChecks: number of sampled elements per tensor.
public func checkGradients(_ layer: any UnaryLayer, input x: Tensor, epsilon: Float = 1e-2,
                           maxChecks: Int = 64, seed: UInt64 = 7,
                           checkInput: Bool = true) -> GradientCheckResult {
    var rng = RNG(seed: seed)
    let y0 = layer.forward(x)
    let g = Tensor.uniform(y0.shape, -1, 1, rng: &rng)
    func loss() -> Double { layer.forward(x).dot(g) }

    // Analytic gradients.
    _ = layer.forward(x)
    layer.zeroGradients()
    let dx = layer.backward(g).copy()
    let params = layer.namedParameters().filter { $0.parameter.requiresGrad }
    let analyticParams = params.map { $0.parameter.grad.copy() }

    func numeric(_ t: Tensor, _ indices: [Int]) -> [Double] {
        indices.map { i in
            let old = t.data[i]
            t.data[i] = old + epsilon
            let lp = loss()
            t.data[i] = old - epsilon
            let lm = loss()
            t.data[i] = old
            return (lp - lm) / (2 * Double(epsilon))
        }
    }
    func sample(_ count: Int) -> [Int] {
        if count <= maxChecks { return Array(0..<count) }
        return (0..<maxChecks).map { _ in rng.int(below: count) }
    }

    var result = GradientCheckResult(errors: [])
    if checkInput {
        let idx = sample(x.count)
        result.errors.append(("input", normalisedError(idx.map { Double(dx.data[$0]) }, numeric(x, idx))))
    }
    for (p, a) in zip(params, analyticParams) {
        let idx = sample(p.parameter.value.count)
        result.errors.append((p.name, normalisedError(idx.map { Double(a.data[$0]) },
                                                      numeric(p.parameter.value, idx))))
    }
    return result
}

/// Approximate equality of two float arrays with a printed maximum difference on failure.
public func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    var m: Float = 0
    for (x, y) in zip(a, b) { m = max(m, abs(x - y)) }
    return m
}
