import Foundation
import Testing

private let srDatasets = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/datasets")
private let srExecutable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    .appendingPathComponent("dqss")
private let srEvalReady =
    FileManager.default.fileExists(atPath: srDatasets.appendingPathComponent("models/sr/imdn_x4.safetensors").path)
    && FileManager.default.fileExists(atPath: srDatasets.appendingPathComponent("sr/Set5/x4").path)
    && FileManager.default.isExecutableFile(atPath: srExecutable.path)

/// Run dqss with `arguments`; returns (exit status, stdout, stderr).
func runSR(_ arguments: [String]) throws -> (Int32, String, String) {
    let p = Process()
    p.executableURL = srExecutable
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// A debug `dqss` runs IMDN on Set5 for minutes.
private let srOptimizedBuild: Bool = {
    #if DEBUG
    return false
    #else
    return true
    #endif
}()

/// `dqss sr-eval` end to end on Set5 (about 2 s in release). Skipped without ../shared/datasets.
@Suite("dqss sr-eval", .enabled(if: srEvalReady, "skipped: ../shared/datasets (IMDN x4, sr/Set5) or the dqss executable not found"))
struct SREvalCommandTests {
    @Test("--json prints {\"sets\": {\"Set5\": {\"psnr\", \"ssim\"}}} with the BASELINES.md values; progress on stderr",
          .enabled(if: srOptimizedBuild, "skipped in debug builds (minutes unoptimised): run swift test -c release"))
    func json() throws {
        let (status, out, err) = try runSR(["sr-eval", "--model", "imdn",
                                            "--weights", srDatasets.appendingPathComponent("models/sr/imdn_x4.safetensors").path,
                                            "--data", srDatasets.appendingPathComponent("sr").path, "--sets", "Set5", "--json"])
        #expect(status == 0, "\(err)")
        #expect(out.split(separator: "\n").count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let sets = try #require(object["sets"] as? [String: Any])
        #expect(Array(sets.keys) == ["Set5"])
        let set5 = try #require(sets["Set5"] as? [String: Any])
        let psnr = try #require(set5["psnr"] as? Double), ssim = try #require(set5["ssim"] as? Double)
        #expect(abs(psnr - 32.2114) <= 0.01)
        #expect(abs(ssim - 0.8948) <= 0.0005)
        #expect((set5["images"] as? [Any])?.count == 5)
        #expect(err.contains("Set5/img_005_SRF_4"))
    }

    @Test("an unknown model or a missing test set is refused with a message naming it")
    func errors() throws {
        let w = srDatasets.appendingPathComponent("models/sr/imdn_x4.safetensors").path
        let d = srDatasets.appendingPathComponent("sr").path
        let (s1, _, e1) = try runSR(["sr-eval", "--model", "srcnn", "--weights", w, "--data", d])
        #expect(s1 != 0 && e1.contains("srcnn"))
        let (s2, _, e2) = try runSR(["sr-eval", "--model", "imdn", "--weights", w, "--data", d, "--sets", "Urban100"])
        #expect(s2 != 0 && e2.contains("Urban100"))
        let (s3, _, e3) = try runSR(["sr-eval", "--model", "msrresnet", "--weights", w, "--data", d, "--sets", "Set5"])
        #expect(s3 != 0 && e3.contains("imdn_x4.safetensors"))
    }
}

private let srSearchReady = srEvalReady
    && FileManager.default.fileExists(atPath: srDatasets.appendingPathComponent("cifar10/manifest.json").path)

/// `dqss sr-search` end to end, shrunk (Set5, 16 calibration pairs, two candidates, 2 search steps):
/// about 15 s in release. Skipped without ../shared/datasets and in debug builds.
@Suite("dqss sr-search", .enabled(if: srSearchReady, "skipped: ../shared/datasets (IMDN x4, sr/Set5, cifar10) or the dqss executable not found"),
       .enabled(if: srOptimizedBuild, "skipped in debug builds (minutes unoptimised): run swift test -c release"))
struct SRSearchCommandTests {
    @Test("--json reports FP32 (= BASELINES.md), each candidate, DQSS-None, DQSS, the selected and the refined row per set, and the assignment")
    func json() throws {
        let (status, out, err) = try runSR([
            "sr-search", "--model", "imdn",
            "--weights", srDatasets.appendingPathComponent("models/sr/imdn_x4.safetensors").path,
            "--data", srDatasets.appendingPathComponent("sr").path,
            "--calib-data", srDatasets.appendingPathComponent("cifar10").path,
            "--sets", "Set5", "--candidates", "maxabs,kl", "--calib", "16", "--val-images", "16", "--search-epochs", "2", "--search-batch", "8", "--json"])
        #expect(status == 0, "\(err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let rows = try #require(object["rows"] as? [[String: Any]])
        let methods = rows.compactMap { $0["method"] as? String }
        #expect(Array(methods.prefix(5)) == ["FP32", "Max_Abs", "KL", "DQSS-None", "DQSS"])
        // The selection row repeats the scores of the contender with the lowest validation score.
        let scores = try #require(object["selection_scores"] as? [String: Double])
        #expect(Set(scores.keys) == ["Max_Abs", "KL", "DQSS"])
        let best = scores.min { $0.value < $1.value }!.key
        #expect(object["selected"] as? String == best)
        #expect(methods.count == 7 && methods[5] == "DQSS (selected: \(best))" && methods[6] == "DQSS (selected + refined)")
        // The refinement only keeps changes that lower the held-out score.
        let refined = try #require(object["refined_score"] as? Double)
        #expect(refined <= scores[best]!)
        let changes = try #require(object["refinement_changes"] as? [[String: Any]])
        #expect(changes.isEmpty == (refined == scores[best]!))
        // --refine-from all (default): the kept refinement started from the selection, the other of
        // (derived, best uniform), or the sensitivity selection.
        let from = try #require(object["refined_from"] as? String)
        let bestUniform = (scores["KL"]! < scores["Max_Abs"]!) ? "KL" : "Max_Abs"
        #expect(from == best || from == (best == "DQSS" ? bestUniform : "DQSS") || from == "sensitivity")
        let bestRow = try #require(rows.first { $0["method"] as? String == best })
        #expect((bestRow["sets"] as? NSDictionary) == (rows[5]["sets"] as? NSDictionary))
        func set5(_ row: [String: Any]) -> (Double, Double)? {
            guard let s = (row["sets"] as? [String: Any])?["Set5"] as? [String: Any],
                  let p = s["psnr"] as? Double, let q = s["ssim"] as? Double else { return nil }
            return (p, q)
        }
        let fp32 = try #require(set5(rows[0]))
        #expect(abs(fp32.0 - 32.2114) <= 0.01 && abs(fp32.1 - 0.8948) <= 0.0005)
        for r in rows.dropFirst() {
            let v = try #require(set5(r))
            // 8-bit PTQ costs something but not everything.
            #expect(v.0 < fp32.0 + 0.05 && v.0 > fp32.0 - 3, "\(r["method"] ?? "?"): \(v)")
        }
        let search = try #require(object["search"] as? [String: Any])
        #expect(search["steps"] as? Int == 4)
        // One assignment schema for every report (AssignmentDocument's layers): a list of layers.
        let assignment = try #require(object["assignment"] as? [[String: Any]])
        #expect(assignment.count == 46)   // every conv of IMDN x4
        #expect(err.contains("calibration: 16 HR/LR pairs"))
        #expect(search["gumbel_straight_through"] as? Bool == false && search["progressive_fixing"] as? Bool == false)
    }

    @Test("--gumbel-straight-through reaches the SR search: recorded, and its search loss differs from the soft mixture's on the same pairs and seed")
    func gumbelStraightThrough() throws {
        func search(_ extra: [String]) throws -> [String: Any] {
            let (status, out, err) = try runSR([
                "sr-search", "--model", "imdn",
                "--weights", srDatasets.appendingPathComponent("models/sr/imdn_x4.safetensors").path,
                "--data", srDatasets.appendingPathComponent("sr").path,
                "--calib-data", srDatasets.appendingPathComponent("cifar10").path,
                "--sets", "Set5", "--candidates", "maxabs,kl", "--calib", "16", "--val-images", "0", "--search-epochs", "2",
                "--search-batch", "8", "--json"] + extra)
            #expect(status == 0, "\(err)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
            return try #require(object["search"] as? [String: Any])
        }
        let plain = try search([]), sampled = try search(["--gumbel-straight-through"])
        #expect(plain["gumbel_straight_through"] as? Bool == false && sampled["gumbel_straight_through"] as? Bool == true)
        #expect(sampled["steps"] as? Int == 4)
        // The first step's forward: the soft mixture (θ = 1/N) against one sampled one-hot network.
        let a = try #require(plain["first_loss"] as? Double), b = try #require(sampled["first_loss"] as? Double)
        #expect(a.isFinite && b.isFinite && a != b, "first search loss \(a) vs \(b)")
    }
}
