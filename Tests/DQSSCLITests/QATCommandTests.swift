import Foundation
import Testing
import DQSSTensor

/// `dqss qat` and `dqss search --mode qat` end to end on a few shared CIFAR-10 images (pretrained ResNet-20).
@Suite("dqss qat", .enabled(if: cifarCLITestsReady, "skipped: ../shared/datasets or the built dqss executable not found"))
struct QATCommandTests {
    let common = ["--model", "resnet20", "--weights", sharedWeights("akamaster_resnet20"),
                  "--data", sharedDatasets.appendingPathComponent("cifar10").path,
                  "--train-limit", "32", "--batch", "16", "--epochs", "1", "--limit", "50", "--json"]

    @Test("qat --method pact --json: one object with top1, per-epoch history (warm-up + training) and the budget; progress on stderr")
    func uniformJSON() throws {
        let (status, out, err) = try runDQSS(["qat", "--method", "pact"] + common)
        #expect(status == 0, "\(err)")
        #expect(out.split(separator: "\n").count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        #expect(object["method"] as? String == "pact")
        #expect(object["train_images"] as? Int == 32 && object["test_images"] as? Int == 50)
        #expect(object["bits"] as? Int == 4 && object["first_last_bits"] as? String == "8")
        #expect(object["openblas_core"] as? String == OpenBLASCore.name)
        let top1 = try #require(object["top1"] as? Double)
        #expect(top1 > 40)   // FP32 gets 46/50; 4-bit PACT after two steps of training stays well above chance
        let history = try #require(object["history"] as? [[String: Any]])
        #expect(history.map { $0["phase"] as? String } == ["warmup", "train"])
        #expect(history.last?["test_top1"] as? Double == top1)
        #expect(object["assignment"] == nil)
        #expect(err.contains("warm-up 1/1 step 2/2") && err.contains("img/s") && err.contains("ETA"))
    }

    @Test("search --mode qat --json: derived top1, soft top1 and the per-layer assignment over the four candidates")
    func searchJSON() throws {
        let (status, out, err) = try runDQSS(["search", "--mode", "qat", "--warmup-epochs", "0", "--quiet"] + common)
        #expect(status == 0, "\(err)")
        #expect(err.isEmpty, "--quiet: \(err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        #expect(object["method"] as? String == "dqss")
        #expect(object["top1"] as? Double != nil && object["soft_top1"] as? Double != nil)
        // One assignment schema for every report (AssignmentDocument's layers): `assignment` is the list of
        // layers; candidates, schedule and counts sit beside it, as in the PTQ search's report.
        #expect(object["candidates"] as? [String] == ["DoReFa", "DSQ", "LSQ", "PACT"])
        let layers = try #require(object["assignment"] as? [[String: Any]])
        #expect(layers.count == 20)   // 19 convs + fc of ResNet-20
        #expect((object["activation_counts"] as? [String: Int])?.values.reduce(0, +) == 20)
        // The default (annealed) schedule trains the derived network's own BatchNorm statistics: no re-estimation.
        #expect(object["derived_bn_top1"] == nil && object["bn_reestimate_images"] == nil)
        #expect((object["search_schedule"] as? String)?.hasPrefix("annealed") == true)
        #expect(layers.allSatisfy { ($0["activation_margin"] as? Double).map { (0...1).contains($0) } == true })
        // With the paper's schedule it is on by default (2048 images, here clamped to the 32 training images).
        let (s2, out2, e2) = try runDQSS(["search", "--mode", "qat", "--schedule", "paper", "--warmup-epochs", "0", "--quiet"] + common)
        #expect(s2 == 0, "\(e2)")
        let paper = try #require(try JSONSerialization.jsonObject(with: Data(out2.utf8)) as? [String: Any])
        #expect(paper["derived_bn_top1"] as? Double != nil && paper["bn_reestimate_images"] as? Int == 32)
    }

    @Test("search --mode qat --bn-reestimate N: the derived network evaluated again after BatchNorm re-estimation on N images")
    func searchBatchNormReestimation() throws {
        let (status, out, err) = try runDQSS(["search", "--mode", "qat", "--warmup-epochs", "0", "--bn-reestimate", "24"] + common)
        #expect(status == 0, "\(err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let reestimated = try #require(object["derived_bn_top1"] as? Double)
        #expect(reestimated >= 0 && reestimated <= 100)
        #expect(object["bn_reestimate_images"] as? Int == 24)
        #expect(object["top1"] as? Double != nil)   // the plain derived network (§7.4) is still reported
        #expect(err.contains("re-estimating BatchNorm statistics of the derived network on 24 training images (2 batches per rank)"))
        #expect(err.contains("derived with BatchNorm re-estimated"))
    }

    @Test("bad flags are refused with a message naming the flag; --bn-reestimate 0 turns the re-estimation off")
    func badFlags() throws {
        let (s1, _, e1) = try runDQSS(["qat", "--method", "foo"] + common)
        #expect(s1 != 0 && e1.contains("--method"))
        let (s2, _, e2) = try runDQSS(["qat", "--method", "lsq", "--first-last-bits", "x"] + common)
        #expect(s2 != 0 && e2.contains("--first-last-bits"))
        let (s3, _, e3) = try runDQSS(["qat", "--method", "lsq"] + common + ["--train-limit", "100000"])
        #expect(s3 != 0 && e3.contains("--train-limit"))
        let (s4, _, e4) = try runDQSS(["qat", "--method", "lsq", "--bn-reestimate", "16"] + common)
        #expect(s4 != 0 && e4.contains("--bn-reestimate applies to the DQSS mixture"))
        let (s5, _, e5) = try runDQSS(["search", "--mode", "qat", "--bn-reestimate=-1"] + common)
        #expect(s5 != 0 && e5.contains("--bn-reestimate must be at least 0"))
        let (s6, out6, e6) = try runDQSS(["search", "--mode", "qat", "--warmup-epochs", "0", "--bn-reestimate", "0", "--quiet"] + common)
        #expect(s6 == 0, "\(e6)")
        let off = try #require(try JSONSerialization.jsonObject(with: Data(out6.utf8)) as? [String: Any])
        #expect(off["derived_bn_top1"] == nil && off["bn_reestimate_images"] == nil)   // 0 = off
    }
}
