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

    /// Issue 16: results must not depend on --threads (the backward's per-chunk weight-gradient sums and the
    /// quantizers' chunked sums use a partition fixed by the data size, not by the thread count). Training,
    /// calibration (EQ's grid search included), the search and every row must be bit-identical.
    @Test("--threads 1 and --threads 2 give the same JSON except the timings (training, thresholds, α/β, every row)")
    func threadCountIndependence() throws {
        guard FileManager.default.isExecutableFile(atPath: dqssExecutable.path) else { return }
        var objects: [[String: Any]] = []
        for threads in ["1", "2"] {
            let (status, out, err) = try runDQSS(["demo", "--json", "--quiet", "--epochs", "2", "--train-images", "768",
                                                  "--test-images", "256", "--calib", "128", "--val-images", "128",
                                                  "--threads", threads])
            #expect(status == 0, "\(err)")
            objects.append(try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]))
        }
        /// The object without what may differ: wall times, rates, the thread count and the command line.
        func canonical(_ v: Any) -> Any {
            if let d = v as? [String: Any] {
                var out: [String: Any] = [:]
                for (k, x) in d where !(k.contains("seconds") || k == "timings" || k == "images_per_second"
                                        || k == "threads" || k == "command_line") {
                    out[k] = canonical(x)
                }
                return out
            }
            if let a = v as? [Any] { return a.map(canonical) }
            return v
        }
        let a = try JSONSerialization.data(withJSONObject: canonical(objects[0]), options: [.sortedKeys])
        let b = try JSONSerialization.data(withJSONObject: canonical(objects[1]), options: [.sortedKeys])
        #expect(a == b, "--threads 1: \(String(decoding: a, as: UTF8.self).prefix(600))\n--threads 2: \(String(decoding: b, as: UTF8.self).prefix(600))")
        #expect(a.count > 1000)
    }
}
