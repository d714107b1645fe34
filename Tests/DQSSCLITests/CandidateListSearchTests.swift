// Searches and the demo over any candidate list (issue 20): six candidates give six uniform rows, θ over six
// branches and six selection contenders; the Markdown row has one cell per candidate.

import Foundation
import Testing

@Suite("search --mode ptq over any candidate list", .serialized,
       .enabled(if: cifarCLITestsReady, "skipped: ../shared/datasets or the built dqss executable not found"))
struct CandidateListSearchTests {
    let data = sharedDatasets.appendingPathComponent("cifar10").path
    var model: [String] { ["--model", "resnet20", "--weights", sharedWeights("akamaster_resnet20"), "--data", data] }

    @Test("search --mode ptq --candidates maxabs,kl,eq,admm,mse,percentile:99.99: six uniform rows, θ over six branches, six contenders")
    func searchSixCandidates() throws {
        let (status, out, err) = try runDQSS(["search", "--mode", "ptq"] + model + [
            "--candidates", "maxabs,kl,eq,admm,mse,percentile:99.99", "--calib", "16", "--limit", "50", "--eval-batch", "50",
            "--weight-bits", "4", "--act-bits", "8", "--val-images", "16", "--eq-images", "8", "--search-epochs", "1",
            "--search-batch", "16", "--refine-passes", "0", "--json"])
        #expect(status == 0, "\(err)")
        let o = try jsonObject(out)
        let labels = ["Max_Abs", "KL", "EQ", "ADMM", "MSE", "P99.99"]
        #expect(o["candidates"] as? [String] == labels)
        let uniform = try #require(o["uniform"] as? [String: Double])
        #expect(Set(uniform.keys) == Set(labels))
        #expect(Set((o["validation_scores"] as? [String: Double] ?? [:]).keys) == Set(labels + ["derived"]))
        let assignment = try #require(o["assignment"] as? [[String: Any]])
        for l in assignment {
            for side in ["theta_activation", "theta_weight"] {
                let theta = try #require(l[side] as? [Double])
                #expect(theta.count == 6 && abs(theta.reduce(0, +) - 1) < 1e-9)
            }
        }
        #expect(try #require(o["dqss_none_top1"] as? Double) > 50)
    }

    @Test("search --markdown prints one cell per candidate given")
    func markdownRowCoversEveryCandidate() throws {
        let (status, out, err) = try runDQSS(["search", "--mode", "ptq"] + model + [
            "--candidates", "mse,percentile:99.9,maxabs", "--calib", "16", "--limit", "50", "--eval-batch", "50",
            "--val-images", "0", "--search-epochs", "1", "--search-batch", "16", "--markdown", "--quiet"])
        #expect(status == 0, "\(err)")
        // | model | setting | FP32 | 3 candidates | DQSS-None | paper | derived | DQSS | start | changes |
        let cells = out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|", omittingEmptySubsequences: true)
        #expect(cells.count == 3 + 3 + 6, "\(out)")
    }
}

@Suite("dqss demo over six candidates")
struct DemoSixCandidatesTests {
    @Test("demo --candidates maxabs,kl,easyquant,admm,mse,percentile:99.99 reports six uniform rows")
    func demoSix() throws {
        guard FileManager.default.isExecutableFile(atPath: dqssExecutable.path) else { return }
        let (status, out, err) = try runDQSS(["demo", "--json", "--quiet", "--epochs", "1", "--train-images", "512",
                                              "--test-images", "64", "--calib", "32", "--val-images", "32",
                                              "--candidates", "maxabs,kl,easyquant,admm,mse,percentile:99.99"])
        #expect(status == 0, "\(err)")
        let search = try #require(try jsonObject(out)["search"] as? [String: Any])
        #expect(Set((search["uniform"] as? [String: Double] ?? [:]).keys) == ["Max_Abs", "KL", "EQ", "ADMM", "MSE", "P99.99"])
    }
}
