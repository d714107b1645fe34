// The convolution part of dqss-bench: raw sgemm at the im2col GEMM shape of a ResNet 3×3 conv, and the
// conv kernels' forward / backward throughput at the same shape.

import DQSSTensor

struct ConvBenchResult: Codable {
    var shape: String
    var chunkImages: Int
    var sgemmM: Int, sgemmN: Int, sgemmK: Int
    /// Raw cblas_sgemm at the chunked shape the conv uses (total FLOPs of the whole batch).
    var sgemmGflops: Double
    /// Raw cblas_sgemm as ONE call with N = batch·H·W (for reference).
    var sgemmFullNGflops: Double
    var convForwardGflops: Double
    var convBackwardGflops: Double
    var convForwardMs: Double
    var convBackwardMs: Double
}

func runConvBench(batch: Int, channels: Int, size: Int, repeats: Int) -> ConvBenchResult {
    let g = ConvGeometry(batch: batch, inChannels: channels, inH: size, inW: size, outChannels: channels,
                         kernel: 3, stride: 1, padding: 1)
    var rng = RNG(seed: 1)
    let ws = Conv2dWorkspace()
    let x = Tensor.uniform(g.inputShape, rng: &rng)
    let w = Tensor.uniform(g.weightShape, -0.05, 0.05, rng: &rng)
    let b = Tensor.uniform([g.outChannels], rng: &rng)
    let y = Tensor(shape: g.outputShape)
    let dy = Tensor.uniform(g.outputShape, rng: &rng)
    let dx = Tensor(shape: g.inputShape)
    let dw = Tensor(shape: g.weightShape)

    // sgemm at the exact chunked shape the forward pass runs: M = out channels, K = in·3·3,
    // N = chunk images · H·W, repeated batch/chunk times (same total FLOPs as the whole batch).
    let chunk = ws.chunkImages(g)
    let (m, k, n) = (g.outChannels, g.patchSize, chunk * g.outSpatial)
    let a = Tensor.uniform([m, k], rng: &rng)
    let bm = Tensor.uniform([k, n], rng: &rng)
    let c = Tensor(shape: [m, n])
    let chunks = (batch + chunk - 1) / chunk
    let sgemmFlops = 2 * Double(m) * Double(n) * Double(k) * Double(chunks)
    let nFull = batch * g.outSpatial
    let bFull = Tensor.uniform([k, nFull], rng: &rng)
    let cFull = Tensor(shape: [m, nFull])
    // The four measurements are interleaved repeat by repeat, so that a load change on the shared
    // machine hits the sgemm baseline and the conv alike and their ratio stays meaningful.
    let (tGemm, tGemmFull, tFwd, tBwd) = interleavedSeconds(repeats: repeats, {
        for _ in 0..<chunks {
            gemm(.none, .none, m: m, n: n, k: k, a: a.data, lda: k, b: bm.data, ldb: n, c: c.data, ldc: n)
        }
    }, {
        gemm(.none, .none, m: m, n: nFull, k: k, a: a.data, lda: k, b: bFull.data, ldb: nFull, c: cFull.data, ldc: nFull)
    }, {
        Conv2dKernel.forward(g, input: x.data, weight: w.data, bias: b.data, output: y.data, workspace: ws)
    }, {
        Conv2dKernel.backward(g, gradOutput: dy.data, input: x.data, weight: w.data, gradInput: dx.data,
                              gradWeight: dw.data, accumulate: false, workspace: ws)
    })
    return ConvBenchResult(
        shape: g.description, chunkImages: chunk, sgemmM: m, sgemmN: n, sgemmK: k,
        sgemmGflops: sgemmFlops / tGemm * 1e-9,
        sgemmFullNGflops: 2 * Double(m) * Double(nFull) * Double(k) / tGemmFull * 1e-9,
        convForwardGflops: g.forwardFLOPs / tFwd * 1e-9,
        convBackwardGflops: 2 * g.forwardFLOPs / tBwd * 1e-9,
        convForwardMs: tFwd * 1e3, convBackwardMs: tBwd * 1e3)
}
