import Foundation
import Testing
import DQSSTensor
import DQSSLayers
import DQSSData
import DQSSModels
import _TestSupport

/// Parameters of a k×k conv with bias.
private func conv(_ i: Int, _ o: Int, _ k: Int) -> Int { i * o * k * k + o }

@Suite("SR models")
struct SRModelTests {
    @Test("MSRResNet x4 (64 features, 16 blocks) has BasicSR's 1,517,571 parameters, computed conv by conv")
    func msrresnetCount() {
        var rng = RNG(seed: 40)
        let expected = conv(3, 64, 3) + 16 * 2 * conv(64, 64, 3) + 2 * conv(64, 256, 3) + conv(64, 64, 3) + conv(64, 3, 3)
        #expect(expected == 1_517_571)
        #expect(MSRResNet(rng: &rng).parameterCount == expected)
    }

    @Test("EDSR-baseline x4 (64 features, 16 blocks) parameter count, computed conv by conv")
    func edsrCount() {
        var rng = RNG(seed: 40)
        // conv_first + body + conv_after_body + upsample.0 + upsample.2 + conv_last: the same total as MSRResNet
        // (conv_after_body takes conv_hr's place).
        let expected = conv(3, 64, 3) + 16 * 2 * conv(64, 64, 3) + conv(64, 64, 3) + 2 * conv(64, 256, 3) + conv(64, 3, 3)
        #expect(expected == 1_517_571)
        #expect(EDSR(rng: &rng).parameterCount == expected)
    }

    @Test("BasicSR parameter names and shapes (MSRResNet and EDSR)")
    func basicSRNames() {
        var rng = RNG(seed: 40)
        let m = Dictionary(uniqueKeysWithValues: MSRResNet(rng: &rng).namedParameters().map { ($0.name, $0.parameter.value.shape) })
        #expect(m.count == 74)
        #expect(m["conv_first.weight"] == [64, 3, 3, 3])
        #expect(m["body.15.conv2.bias"] == [64])
        #expect(m["upconv1.weight"] == [256, 64, 3, 3])
        #expect(m["upconv2.weight"] == [256, 64, 3, 3])
        #expect(m["conv_hr.weight"] == [64, 64, 3, 3])
        #expect(m["conv_last.weight"] == [3, 64, 3, 3])
        let e = Dictionary(uniqueKeysWithValues: EDSR(rng: &rng).namedParameters().map { ($0.name, $0.parameter.value.shape) })
        #expect(e.count == 74)
        #expect(e["conv_after_body.bias"] == [64])
        #expect(e["upsample.0.weight"] == [256, 64, 3, 3])
        #expect(e["upsample.2.weight"] == [256, 64, 3, 3])
        #expect(e["body.0.conv1.weight"] == [64, 64, 3, 3])
        #expect(e["conv_last.bias"] == [3])
    }

    @Test("IMDN x4 has the manifest's tensors: names and shapes (92 tensors)")
    func imdnNames() throws {
        var rng = RNG(seed: 40)
        let p = IMDN(rng: &rng).namedParameters()
        #expect(p.count == 4 * 2 + 6 * 7 * 2)   // fea_conv, c.0, LR_conv, upsampler.0 + 6 × (c1..c5, 2 CCA convs)
        let shapes = Dictionary(uniqueKeysWithValues: p.map { ($0.name, $0.parameter.value.shape) })
        #expect(shapes["IMDB3.c2.weight"] == [64, 48, 3, 3])
        #expect(shapes["IMDB6.c4.weight"] == [16, 48, 3, 3])
        #expect(shapes["IMDB1.cca.conv_du.0.weight"] == [4, 64, 1, 1])
        #expect(shapes["IMDB1.cca.conv_du.2.weight"] == [64, 4, 1, 1])
        #expect(shapes["c.0.weight"] == [64, 384, 1, 1])
        #expect(shapes["upsampler.0.weight"] == [48, 64, 3, 3])
        // 6 × (c1 + c2 + c3 + c4 + c5 + CCA) + fea_conv + c + LR_conv + upsampler.
        let block = conv(64, 64, 3) + 2 * conv(48, 64, 3) + conv(48, 16, 3) + conv(64, 64, 1) + conv(64, 4, 1) + conv(4, 64, 1)
        #expect(IMDN(rng: &rng).parameterCount == 6 * block + conv(3, 64, 3) + conv(384, 64, 1) + conv(64, 64, 3) + conv(64, 48, 3))
    }

    @Test("IMDN loads the shared checkpoint strictly (every tensor used, names from the manifest)",
          .enabled(if: FileManager.default.fileExists(atPath: sharedDatasets.appendingPathComponent("models/sr/imdn_x4.safetensors").path),
                   "skipped: ../shared/datasets/models/sr/imdn_x4.safetensors not found"))
    func imdnLoads() throws {
        let url = sharedDatasets.appendingPathComponent("models/sr/imdn_x4.safetensors")
        let model = try SRModelZoo.spec(named: "imdn").load(weights: url)
        let file = try SafetensorsFile(contentsOf: url)
        let w = try #require(model.namedParameters().first { $0.name == "IMDB2.c3.bias" })
        let stored = try file.tensor(named: "module.IMDB2.c3.bias")
        #expect(w.parameter.value.array == stored.array)
    }

    @Test("block and small-network gradients match finite differences (IMDB, CCA, residual block, MSRResNet, EDSR)")
    func gradients() {
        var rng = RNG(seed: 41)
        // MSRResNet's conv_hr bias shifts all 4x-resolution pixels through LeakyReLU kinks at once, so a
        // stray element can miss at ε = 1e-3 (measured: the central difference of one conv_hr.bias element goes
        // −1.97, −2.17, −2.26, −2.249 for ε = 1e-2 … 3e-4, analytic −2.249), while smaller ε hits float noise
        // elsewhere. Allowed: one stray element per tensor, three per network; wiring errors spoil whole tensors.
        let cases: [(String, any UnaryLayer, [Int], Float)] = [
            ("ContrastChannelAttention", ContrastChannelAttention(channels: 16, reduction: 4, rng: &rng), [2, 16, 3, 4], 1e-3),
            ("IMDB", IMDB(features: 16, rng: &rng), [1, 16, 4, 5], 1e-3),
            ("ResidualBlockNoBN", ResidualBlockNoBN(features: 4, resScale: 0.5, rng: &rng), [2, 4, 4, 3], 1e-3),
            ("MSRResNet", MSRResNet(features: 4, blocks: 2, upscale: 4, rng: &rng), [1, 3, 2, 3], 1e-3),
            ("EDSR", EDSR(features: 4, blocks: 2, upscale: 2, imageRange: 2, rng: &rng), [1, 3, 4, 3], 1e-3),
        ]
        for (name, layer, shape, epsilon) in cases {
            let x = Tensor.uniform(shape, 0, 1, rng: &rng)
            let failures = kinkTolerantGradientCheck(layer, input: x, epsilon: epsilon)
            #expect(failures.allSatisfy { $0.bad == 1 } && failures.count <= 3, "\(name): \(failures)")
        }
    }

    @Test("whole IMDN gradient (block chain, concat of every block, long skip) matches finite differences")
    func imdnGradient() {
        // A bias perturbation moves every pixel of a plane at once, so some of the many LeakyReLU kinks are
        // crossed on both sides, and sigmoid/std curvature spoils one-sided differences: a stray element may
        // miss. A wiring error (a block gradient not summed, a concat slice swapped) spoils whole tensors.
        var rng = RNG(seed: 43)
        let model = IMDN(features: 16, blockCount: 2, upscale: 2, rng: &rng)
        let x = Tensor.uniform([1, 3, 4, 4], 0, 1, rng: &rng)
        let failures = kinkTolerantGradientCheck(model, input: x, epsilon: 3e-3, samples: 64, tolerance: 3e-2)
        #expect(failures.reduce(0) { $0 + $1.bad } <= 2, "\(failures)")
        #expect(failures.allSatisfy { $0.bad == 1 }, "\(failures)")
    }

    @Test("tiled inference equals whole-image inference (8-bit output identical) when overlap ≥ receptive radius")
    func tiled() {
        var rng = RNG(seed: 42)
        // 2 blocks: radius 1 + 4 + 1 at LR plus < 2 from the x2 stages and conv_hr/conv_last, so 8 suffices.
        let model = MSRResNet(features: 8, blocks: 2, upscale: 4, rng: &rng)
        for p in model.namedParameters() { p.parameter.value.scale(by: 2) }   // a less flat output
        let x = Tensor.uniform([1, 3, 21, 17], 0, 1, rng: &rng)
        let whole = TiledInference.run(model, lowResolution: x, scale: 4, tile: nil)
        let tiled = TiledInference.run(model, lowResolution: x, scale: 4, tile: 6, overlap: 8)
        #expect(tiled.shape == [1, 3, 84, 68])
        #expect(whole.maxAbsDifference(tiled) < 1e-5)
        #expect(PNGImage(tensor: whole) == PNGImage(tensor: tiled))
        // Too little context must show: the check above can fail.
        let starved = TiledInference.run(model, lowResolution: x, scale: 4, tile: 6, overlap: 1)
        #expect(whole.maxAbsDifference(starved) > 1e-4)
    }

}
