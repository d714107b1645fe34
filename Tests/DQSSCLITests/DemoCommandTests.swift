import Foundation
import Testing

/// `dqss demo`: the README's first command (trains on generated data, then the DQSS PTQ search), small.
@Suite("dqss demo")
struct DemoCommandTests {
    @Test("--json: the trained network beats chance and the search reports every row with the §6.2 guarantee on validation")
    func demoJSON() throws {
        guard FileManager.default.isExecutableFile(atPath: dqssExecutable.path) else { return }
        let (status, out, err) = try runDQSS(["demo", "--json", "--epochs", "3", "--train-images", "1024", "--test-images", "256",
                                              "--calib", "128", "--val-images", "128"])
        #expect(status == 0, "\(err)")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let training = try #require(o["training"] as? [String: Any])
        let classes = try #require(training["classes"] as? Int)
        #expect((training["test_top1"] as? Double ?? 0) > 2.0 / Double(classes))   // well above chance
        let search = try #require(o["search"] as? [String: Any])
        #expect(search["setting"] as? String == "W4A3")
        #expect((search["uniform"] as? [String: Double])?.count == 4)
        for key in ["fp32_top1", "dqss_top1", "derived_top1", "dqss_none_top1", "paper_derived_top1"] {
            #expect(search[key] is Double, "\(key)")
        }
        let scores = try #require(search["validation_scores"] as? [String: Double])
        #expect(try #require(search["final_validation_score"] as? Double) <= scores.values.min()!)
        #expect((search["assignment"] as? [[String: Any]])?.map { $0["name"] as? String } == ["conv1", "conv2", "conv3", "fc"])
        #expect(err.contains("search (annealed)"))
    }
}
