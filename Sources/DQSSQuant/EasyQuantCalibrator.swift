// EQ (EasyQuant, Wu et al. 2020), ALGORITHMS.md §3.3: per layer, alternating 1-D grid searches over
// (T_w, T_a) maximising the mean cosine similarity between the FP32 pre-BN layer output and the
// quantized one over the calibration images:
//
//   O⁽ⁿ⁾ = W * A⁽ⁿ⁾ + b,   Ô⁽ⁿ⁾ = Q(W; T_w) * Q(A⁽ⁿ⁾; T_a) + b
//   score(T_w, T_a) = (1/M) Σ_n cos(vec O⁽ⁿ⁾, vec Ô⁽ⁿ⁾)     (EasyQuant guard: +1e-5 on zero vectors)
//   init T_w⁰ = max|W|, T_a⁰ = KL threshold;  grid G(T⁰) = {T⁰·(0.5 + 1.5k/99) : k = 0..99} (k = 33: T⁰)
//   2 rounds: T_a ← argmax_{t∈G(T_a⁰)} score(T_w, t);  T_w ← argmax_{t∈G(T_w⁰)} score(t, T_a)
//   ties → the grid point closest to T⁰, then the smaller
//
// Layers are independent (FP32 inputs). The convolution is the layer's own forward with fake-quant
// hooks, so EQ scores exactly the operator that is later evaluated. Batching: every grid point is
// evaluated over a whole stored calibration batch at once (one large GEMM per grid point), the FP32
// reference of a batch is computed once per search, and a search is skipped when its fixed partner
// equals the one of an earlier search (same result, exactly).
//
// Data parallelism: with a multi-rank `communicator` each rank holds the stored inputs of its own
// calibration images (global indices firstImage ..<); every score gathers the per-image cosines of all
// ranks and sums them in sorted order, exactly as one process does over all images.

import DQSSTensor
import DQSSLayers
import DQSSDistributed

public struct EasyQuantCalibrator: ThresholdCalibrator {
    /// Grid points n (100), range [α T⁰, β T⁰] with α = 0.5, β = 2.
    public var gridPoints: Int = 100
    public var lower: Double = 0.5
    public var upper: Double = 2.0
    /// Alternation rounds R.
    public var rounds: Int = 2
    /// Use only the first M calibration images (nil: all).
    public var maxImages: Int?
    /// KL settings for the T_a initialisation.
    public var kl = KLCalibrator()
    /// The ranks whose calibration images are scored together, and the global index of this rank's
    /// first image (see the file header).
    public var communicator: any Communicator = SingleProcess()
    public var firstImage = 0

    public init(maxImages: Int? = nil, rounds: Int = 2) {
        self.maxImages = maxImages
        self.rounds = rounds
    }

    public var method: PTQMethod { .easyQuant }
    public var requirements: StatisticRequirements { [.maxAbs, .histogram, .inputs] }

    /// G(T⁰): T⁰ · (α + (β − α)·k/(n − 1)), computed in Double (k = 33 gives exactly T⁰ for the default).
    public func grid(_ t0: Float) -> [Float] {
        (0..<gridPoints).map { k in
            Float(Double(t0) * (lower + (upper - lower) * Double(k) / Double(gridPoints - 1)))
        }
    }

    /// Index of T⁰ in the grid (33 for the default grid).
    var centre: Int { Int(((1 - lower) / (upper - lower) * Double(gridPoints - 1)).rounded()) }

    /// Grid indices from most to least preferred on ties: closest to the centre, then the smaller.
    var preference: [Int] {
        (0..<gridPoints).sorted { a, b in
            let da = abs(a - centre), db = abs(b - centre)
            return da != db ? da < db : a < b
        }
    }

    /// Index of the best score (ties → preference order).
    func argmax(_ scores: [Double]) -> Int {
        var best = -1
        for k in preference where best < 0 || scores[k] > scores[best] { best = k }
        return best
    }

    public func thresholds(for data: LayerCalibrationData) throws -> LayerThresholds {
        // The first M images of the whole calibration set: this rank's share of them.
        let inputs = Self.limit(data.inputs, to: maxImages.map { max(0, $0 - firstImage) })
        let images = communicator.allreduce(inputs.reduce(0) { $0 + $1.shape[0] }, .sum)
        if images == 0 {
            throw CalibrationError.missingStatistic(layer: data.name, method: "easyquant", what: "stored FP32 inputs")
        }
        let histogram: AbsHistogram
        if let h = data.histogram {
            histogram = h
        } else {
            var m = MaxAbsStatistic()
            for t in inputs { m.observe(t) }
            var h = AbsHistogram(range: communicator.allreduce(m.maxAbs, .max), bins: kl.bins)
            for t in inputs { h.observe(t) }
            var counts = h.counts
            communicator.allreduce(&counts, .sum)
            histogram = AbsHistogram(range: h.range, counts: counts)
        }
        let tw0 = data.layer.weight.value.maxAbs()
        let ta0 = kl.activationThreshold(histogram, quantizer: data.activationQuantizer)
        return search(layer: data.layer, inputs: inputs, weightQuantizer: data.weightQuantizer,
                      activationQuantizer: data.activationQuantizer, initial: LayerThresholds(weight: tw0, activation: ta0))
    }

    /// The alternating search from given initial thresholds (exposed for tests).
    public func search(layer: any HookableLayer, inputs: [Tensor], weightQuantizer: UniformQuantizer,
                       activationQuantizer: UniformQuantizer, initial: LayerThresholds) -> LayerThresholds {
        let scorer = CosineScorer(layer: layer, inputs: inputs, weightQuantizer: weightQuantizer,
                                  activationQuantizer: activationQuantizer, communicator: communicator)
        defer { scorer.restoreHooks() }
        let gridA = grid(initial.activation), gridW = grid(initial.weight)
        var tw = initial.weight, ta = initial.activation
        var activationSearches: [Float: Float] = [:]   // fixed T_w -> chosen T_a
        var weightSearches: [Float: Float] = [:]       // fixed T_a -> chosen T_w
        for _ in 0..<rounds {
            if let t = activationSearches[tw] { ta = t } else {
                let s = scorer.scores(weights: [tw], activations: gridA)
                ta = gridA[argmax(s)]
                activationSearches[tw] = ta
            }
            if let t = weightSearches[ta] { tw = t } else {
                let s = scorer.scores(weights: gridW, activations: [ta])
                tw = gridW[argmax(s)]
                weightSearches[ta] = tw
            }
        }
        return LayerThresholds(weight: tw, activation: ta)
    }

    /// Mean cosine score of one (T_w, T_a) pair (tests, diagnostics).
    public func score(layer: any HookableLayer, inputs: [Tensor], weightQuantizer: UniformQuantizer,
                      activationQuantizer: UniformQuantizer, thresholds: LayerThresholds) -> Double {
        let scorer = CosineScorer(layer: layer, inputs: inputs, weightQuantizer: weightQuantizer,
                                  activationQuantizer: activationQuantizer)
        defer { scorer.restoreHooks() }
        return scorer.scores(weights: [thresholds.weight], activations: [thresholds.activation])[0]
    }

    /// Mean cosine scores of several pairs: one of `weights`, `activations` has one element, the other
    /// is a grid (a weight grid on a groups-1 Conv2d takes the stacked path).
    public func scores(layer: any HookableLayer, inputs: [Tensor], weightQuantizer: UniformQuantizer,
                       activationQuantizer: UniformQuantizer, weights: [Float], activations: [Float]) -> [Double] {
        precondition(weights.count == 1 || activations.count == 1, "one side of the grid must be fixed")
        let scorer = CosineScorer(layer: layer, inputs: inputs, weightQuantizer: weightQuantizer,
                                  activationQuantizer: activationQuantizer)
        defer { scorer.restoreHooks() }
        return scorer.scores(weights: weights, activations: activations)
    }

    /// The first `maxImages` images of the stored batches (views, no copy of whole batches).
    static func limit(_ batches: [Tensor], to maxImages: Int?) -> [Tensor] {
        guard let maxImages else { return batches }
        var out: [Tensor] = [], left = maxImages
        for b in batches where left > 0 {
            let n = b.shape[0]
            if n <= left { out.append(b); left -= n; continue }
            let per = b.count / n
            let t = Tensor(shape: [left] + b.shape.dropFirst())
            t.data.update(from: b.data, count: left * per)
            out.append(t)
            left = 0
        }
        return out
    }
}

/// Evaluates score(T_w, T_a) over stored calibration batches with the layer's own forward.
final class CosineScorer {
    let layer: any HookableLayer
    let inputs: [Tensor]
    let weightHook: FakeQuantHook
    let activationHook: FakeQuantHook
    let savedInputHook: (any TensorHook)?
    let savedWeightHook: (any TensorHook)?
    let reference = Tensor(shape: [0])
    let communicator: any Communicator

    init(layer: any HookableLayer, inputs: [Tensor], weightQuantizer: UniformQuantizer,
         activationQuantizer: UniformQuantizer, communicator: any Communicator = SingleProcess()) {
        self.communicator = communicator
        self.layer = layer
        self.inputs = inputs
        weightHook = FakeQuantHook(quantizer: weightQuantizer, threshold: 0)
        activationHook = FakeQuantHook(quantizer: activationQuantizer, threshold: 0)
        savedInputHook = layer.inputHook
        savedWeightHook = layer.weightHook
    }

    func restoreHooks() {
        layer.inputHook = savedInputHook
        layer.weightHook = savedWeightHook
    }

    /// `reference` = the layer's unquantized output on `batch` (hooks off; the caller installs what it scores).
    func computeReference(_ batch: Tensor) {
        layer.inputHook = nil
        layer.weightHook = nil
        reference.assign(layer.forward(batch))
    }

    /// Mean cosine for each pair: one list must have a single element, the other is the grid.
    func scores(weights: [Float], activations: [Float]) -> [Double] {
        if weights.count > 1, activations.count == 1, let conv = layer as? Conv2d, conv.groups == 1 {
            return stackedWeightScores(conv, weights: weights, activation: activations[0])
        }
        let pairs = max(weights.count, activations.count)
        // Per-image cosines, summed in sorted order at the end so that the score is exactly independent
        // of the order of the calibration batches.
        var cosines = [[Double]](repeating: [], count: pairs)
        var images = 0
        for batch in inputs {
            let n = batch.shape[0]
            images += n
            computeReference(batch)
            layer.inputHook = activationHook
            layer.weightHook = weightHook
            for p in 0..<pairs {
                weightHook.threshold = weights.count == 1 ? weights[0] : weights[p]
                activationHook.threshold = activations.count == 1 ? activations[0] : activations[p]
                let y = layer.forward(batch)
                cosines[p] += Self.cosines(reference, y, images: n)
            }
        }
        return meanScores(cosines, images: images)
    }

    /// The weight grid batched into ONE convolution per image chunk: the G quantized weights are
    /// stacked along the output channels ([G·C_out, C_in, k, k]), so the im2col of Q(A) is shared and
    /// the GEMM has G·C_out rows instead of C_out (far better use of the cores than G thin GEMMs).
    /// Output channel block g of an image is Ô for grid point g. Same kernel family as Conv2d.forward.
    private func stackedWeightScores(_ conv: Conv2d, weights: [Float], activation: Float) -> [Double] {
        let G = weights.count
        let w = conv.weight.value
        let per = w.count
        let stacked = Tensor(shape: [G * conv.outChannels] + Array(w.shape.dropFirst()))
        for (g, t) in weights.enumerated() {
            weightHook.quantizer.fakeQuantize(w.data, into: stacked.data + g * per, count: per, threshold: t)
        }
        var stackedBias: Tensor?
        if let b = conv.bias?.value {
            let sb = Tensor(shape: [G * conv.outChannels])
            for g in 0..<G { (sb.data + g * conv.outChannels).update(from: b.data, count: conv.outChannels) }
            stackedBias = sb
        }
        let quantizedInput = Tensor(shape: [0])
        let output = Tensor(shape: [0])
        let workspace = Conv2dWorkspace()
        var cosines = [[Double]](repeating: [], count: G)
        var images = 0
        for batch in inputs {
            let n = batch.shape[0]
            images += n
            computeReference(batch)
            activationHook.quantizer.fakeQuantize(batch, threshold: activation, into: quantizedInput)
            let one = conv.geometry(for: [1] + Array(batch.shape.dropFirst()))
            let S = one.outSpatial, oc = conv.outChannels
            // Images per convolution call: keep the stacked output near 2^24 floats.
            let step = max(1, min(n, (1 << 24) / max(G * oc * S, 1)))
            var lo = 0
            while lo < n {
                let b = min(step, n - lo)
                var g = conv.geometry(for: [b] + Array(batch.shape.dropFirst()))
                g.outChannels = G * oc
                output.resize(to: g.outputShape)
                Conv2dKernel.forward(g, input: quantizedInput.data + lo * one.inputCount, weight: stacked.data,
                                     bias: stackedBias.map { UnsafePointer($0.data) }, output: output.data,
                                     workspace: workspace)
                // cos per (image, grid point), in parallel over the pairs.
                var c = [Double](repeating: 0, count: b * G)
                let ref = reference.data + lo * oc * S, out = output.data, len = oc * S
                c.withUnsafeMutableBufferPointer { cb in
                    let cp = cb.baseAddress!
                    parallelFor(b * G) { k in
                        let i = k / G, gp = k % G
                        cp[k] = Self.cosine(ref + i * len, out + (i * G + gp) * len, count: len)
                    }
                }
                for i in 0..<b { for gp in 0..<G { cosines[gp].append(c[i * G + gp]) } }
                lo += b
            }
        }
        return meanScores(cosines, images: images)
    }

    /// Per pair, the mean of the per-image cosines of every rank's images, summed in sorted order (the
    /// same multiset and order as one process over all images: the same bits).
    func meanScores(_ cosines: [[Double]], images: Int) -> [Double] {
        if communicator.size == 1 { return cosines.map { $0.sorted().reduce(0, +) / Double(max(images, 1)) } }
        let pairs = cosines.count
        var merged = [[Double]](repeating: [], count: pairs)
        for part in communicator.allgather(cosines.flatMap { $0 }) {
            let n = part.count / max(pairs, 1)
            for p in 0..<pairs { merged[p] += part[(p * n) ..< ((p + 1) * n)] }
        }
        let total = merged.first?.count ?? 0
        return merged.map { $0.sorted().reduce(0, +) / Double(max(total, 1)) }
    }

    /// cos(vec u⁽ⁿ⁾, vec v⁽ⁿ⁾) for each image n, each accumulated in Double.
    static func cosines(_ u: Tensor, _ v: Tensor, images n: Int) -> [Double] {
        let per = u.count / max(n, 1)
        var cos = [Double](repeating: 0, count: n)
        let up = u.data, vp = v.data
        cos.withUnsafeMutableBufferPointer { c in
            let cp = c.baseAddress!
            parallelFor(n) { i in cp[i] = cosine(up + i * per, vp + i * per, count: per) }
        }
        return cos
    }

    /// ⟨u, v⟩ / (‖u‖‖v‖); if either norm is 0, 1e-5 is first added to every element of both.
    static func cosine(_ u: UnsafePointer<Float>, _ v: UnsafePointer<Float>, count: Int) -> Double {
        var uv = 0.0, uu = 0.0, vv = 0.0
        for i in 0..<count {
            let a = Double(u[i]), b = Double(v[i])
            uv += a * b; uu += a * a; vv += b * b
        }
        if uu == 0 || vv == 0 {
            let e = Double(Float(1e-5))
            uv = 0; uu = 0; vv = 0
            for i in 0..<count {
                let a = Double(u[i]) + e, b = Double(v[i]) + e
                uv += a * b; uu += a * a; vv += b * b
            }
        }
        return uv / (uu * vv).squareRoot()
    }
}
