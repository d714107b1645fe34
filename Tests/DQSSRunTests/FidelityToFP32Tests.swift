// Fidelity to FP32 on the test images (FidelityToFP32, ShardedEvaluation.reference): every evaluation's
// agreement with the FP32 top-1 class and mean KL(softmax(FP32) ‖ softmax(network)) against a Float64
// computation from the two networks' logits, the paired KL difference against its hand-computed mean and
// standard error, and the rows of the search report.

import Foundation
import Testing
import DQSSTensor
import DQSSData
import DQSSModels
import DQSSDistributed
import DQSSRun

@Suite("Fidelity to FP32 on the test images")
struct FidelityToFP32Tests {
    let test = SyntheticDataset(count: 64, seed: 4)

    /// The "FP32" reference, an untrained network, and another: the same network with every parameter
    /// perturbed by 30 % Gaussian noise, so the two agree on some images and not on others. Every parameter
    /// is scaled by 3 first, so that the untrained logits depend on the image more than on the biases.
    func networks() -> (TinyConvNet, TinyConvNet) {
        var r1 = RNG(seed: 1), r2 = RNG(seed: 1), noise = RNG(seed: 2)
        let a = TinyConvNet(classes: test.classCount, rng: &r1), b = TinyConvNet(classes: test.classCount, rng: &r2)
        for (p, q) in zip(a.namedParameters(), b.namedParameters()) {
            for i in 0..<p.parameter.value.count {
                p.parameter.value.data[i] *= 3
                q.parameter.value.data[i] = p.parameter.value.data[i] * (1 + 0.3 * noise.normal())
            }
        }
        return (a, b)
    }

    /// Batches of 24 (the last one partial), so a reference offset error shows.
    func evaluation() -> ShardedEvaluation {
        let comm = SingleProcess()
        return ShardedEvaluation(source: generatedSource(test), total: test.count, batch: 24, communicator: comm,
                                 log: RankLog(communicator: comm, quiet: true), model: "TinyConvNet", split: "generated")
    }

    /// Logits of all test images in one pass, [64, K].
    func allLogits(_ net: TinyConvNet) -> (Tensor, [Int]) {
        net.setTraining(false)
        let images = Tensor(shape: [0])
        let labels = test.fillBatch(Array(0..<test.count)[...], images: images)
        return (net.forward(images).copy(), labels)
    }

    /// KL(softmax(p) ‖ softmax(q)) of one row, Float64, written out.
    func kl(_ p: [Float], _ q: [Float]) -> Double {
        func logSoftmax(_ z: [Float]) -> [Double] {
            let m = Double(z.max()!), s = z.reduce(0.0) { $0 + exp(Double($1) - m) }
            return z.map { Double($0) - m - log(s) }
        }
        let lp = logSoftmax(p), lq = logSoftmax(q)
        return zip(lp, lq).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
    }

    func argmax(_ z: [Float]) -> Int { z.indices.max { z[$0] < z[$1] || (z[$0] == z[$1] && $0 > $1) }! }

    @Test("agreement with the FP32 class and mean KL to FP32 equal a Float64 computation from both networks' logits; the FP32 network itself agrees everywhere with KL 0")
    func agreementAndKL() throws {
        let (fp32, other) = networks()
        var e = evaluation()
        e.reference = try e.fp32Reference(fp32)
        let self_ = try e.top1(fp32, label: "FP32"), r = try e.top1(other, label: "other")
        #expect(self_.agreeing == test.count && self_.meanKL == 0)

        let (zp, _) = allLogits(fp32), (zq, _) = allLogits(other)
        let k = zp.count / test.count
        var agree = 0, perImage: [Double] = []
        for i in 0..<test.count {
            let p = Array(UnsafeBufferPointer(start: zp.data + i * k, count: k)), q = Array(UnsafeBufferPointer(start: zq.data + i * k, count: k))
            if argmax(p) == argmax(q) { agree += 1 }
            perImage.append(kl(p, q))
        }
        #expect(agree > 0 && agree < test.count, "the two networks agree on \(agree) of \(test.count): pick other seeds")
        #expect(r.agreeing == agree)
        #expect(r.perImageKL.count == test.count)
        for (a, b) in zip(r.perImageKL, perImage) { #expect(abs(a - b) <= 1e-9 * max(1, b)) }
        let mean = perImage.reduce(0, +) / Double(test.count)
        let meanKL = try #require(r.meanKL)
        #expect(mean > 1e-3 && abs(meanKL - mean) <= 1e-9 * mean)
    }

    @Test("the final network's KL minus a row's: mean of the per-image differences, standard error from their sample variance; zero against itself; nil without a reference")
    func pairedDifference() throws {
        let (fp32, other) = networks()
        var e = evaluation()
        let plain = try e.top1(other, label: "other")
        #expect(plain.agreeing == nil && plain.meanKL == nil && e.fidelity(final: plain, plain, row: "x") == nil)
        e.reference = try e.fp32Reference(fp32)
        let final = try e.top1(other, label: "final"), row = try e.top1(fp32, label: "FP32")
        let f = try #require(e.fidelity(final: final, row, row: "FP32"))
        let d = zip(final.perImageKL, row.perImageKL).map { $0 - $1 }
        let n = Double(d.count), m = d.reduce(0, +) / n
        let s2 = d.reduce(0.0) { $0 + ($1 - m) * ($1 - m) } / (n - 1)
        #expect(abs(f.klFinalMinusRow - m) <= 1e-12 * abs(m) && m > 0)
        #expect(abs(f.klStandardError - (s2 / n).squareRoot()) <= 1e-9 * (s2 / n).squareRoot())
        #expect(f.agreement == 100 && f.kl == 0 && f.row == "FP32")
        let same = try #require(e.fidelity(final: final, final, row: "final"))
        #expect(same.klFinalMinusRow == 0 && same.klStandardError == 0 && same.klDifferenceInStandardErrors == 0)
        let agreeing = try #require(final.agreeing)
        #expect(abs(same.agreement - 100 * Double(agreeing) / n) < 1e-12)
    }

    @Test("the search report lists the final network and every paired row with its fidelity; FP32's is 100 % and KL 0, and each row's KL difference is the difference of the means")
    func reportRows() throws {
        let report = try tinyPTQSearch(epochs: 1)
        let rows = report.fidelityToFP32
        #expect(rows.map(\.row) == ["DQSS final"] + report.pairedWithFinal.map(\.row))
        let final = try #require(rows.first), fp32 = try #require(rows.first { $0.row == "FP32" })
        #expect(fp32.agreement == 100 && fp32.kl == 0)
        #expect(final.klFinalMinusRow == 0 && final.kl > 0)
        for r in rows { #expect(abs(r.klFinalMinusRow - (final.kl - r.kl)) <= 1e-9 * max(final.kl, r.kl), "\(r.row)") }
        let json = String(decoding: try JSONEncoder().encode(rows), as: UTF8.self)
        #expect(json.contains("\"klFinalMinusRow\""))
    }
}
