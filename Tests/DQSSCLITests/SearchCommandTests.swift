import Foundation
import Testing
import DQSSTensor

/// `dqss search`: the --mode/--task dispatch, and `--mode ptq` end to end on the shared CIFAR-10 data
/// (few calibration and validation images, a slice of the test split, a short search).
@Suite("dqss search")
struct SearchCommandTests {
    @Test("without --mode the search is refused, naming the flag and the modes")
    func modeRequired() throws {
        guard FileManager.default.isExecutableFile(atPath: dqssExecutable.path) else { return }
        let (status, out, err) = try runDQSS(["search", "--model", "resnet20"])
        #expect(status != 0 && out.isEmpty)
        #expect(err.contains("--mode") && err.contains("ptq") && err.contains("qat"))
        let (s2, _, e2) = try runDQSS(["search", "--mode", "qat", "--task", "sr", "--data", "x"])
        #expect(s2 != 0 && e2.contains("classification"))
        let (s3, _, e3) = try runDQSS(["search", "--mode", "int8"])
        #expect(s3 != 0 && e3.contains("int8"))
    }

    @Test("--help of each mode lists that search's own flags")
    func helpPerMode() throws {
        guard FileManager.default.isExecutableFile(atPath: dqssExecutable.path) else { return }
        let (s1, ptq, _) = try runDQSS(["search", "--mode", "ptq", "--help"])
        #expect(s1 == 0 && ptq.contains("--refine-passes") && ptq.contains("--search-loss"))
        let (s2, qat, _) = try runDQSS(["search", "--mode", "qat", "--help"])
        #expect(s2 == 0 && qat.contains("--lr-theta") && !qat.contains("--refine-passes"))
        let (s3, sr, _) = try runDQSS(["search", "--mode", "ptq", "--task", "sr", "--help"])
        #expect(s3 == 0 && sr.contains("--calib-data"))
    }

    @Test("a test split used for calibration is refused before anything runs")
    func testSplitNeverCalibrates() throws {
        guard FileManager.default.isExecutableFile(atPath: dqssExecutable.path) else { return }
        let (status, _, err) = try runDQSS(["search", "--mode", "ptq", "--model", "resnet20", "--weights", "w", "--data", "d",
                                            "--calib-split", "test", "--split", "test"])
        #expect(status != 0 && err.contains("--calib-split"))
    }
}

extension SearchCommandTests {
    @Test("--val-jpeg-quality outside 1...100, or without validation images, is refused before anything runs, naming the flag")
    func valJPEGQualityValidated() throws {
        guard FileManager.default.isExecutableFile(atPath: dqssExecutable.path) else { return }
        let common = ["search", "--mode", "ptq", "--model", "resnet20", "--weights", "w", "--data", "d"]
        for bad in [["--val-jpeg-quality", "0"], ["--val-jpeg-quality", "101"], ["--val-jpeg-quality", "75", "--val-images", "0"]] {
            let (status, _, err) = try runDQSS(common + bad)
            #expect(status != 0 && err.contains("--val-jpeg-quality"), "\(bad): \(err)")
        }
    }

    @Test("--progressive-fixing or --gumbel-straight-through with --schedule paper is refused before anything runs, naming both flags")
    func annealedOnlyFlagsNeedAnnealed() throws {
        guard FileManager.default.isExecutableFile(atPath: dqssExecutable.path) else { return }
        for flag in ["--progressive-fixing", "--gumbel-straight-through"] {
            let (status, out, err) = try runDQSS(["search", "--mode", "ptq", "--model", "resnet20", "--weights", "w", "--data", "d",
                                                  "--schedule", "paper", flag])
            #expect(status != 0 && out.isEmpty, "\(flag)")
            #expect(err.contains(flag) && err.contains("--schedule paper"), "\(flag): \(err)")
        }
    }

    @Test("--refine-significance negative, not a number, or without validation images is refused before anything runs, naming the flag")
    func refineSignificanceValidated() throws {
        guard FileManager.default.isExecutableFile(atPath: dqssExecutable.path) else { return }
        let common = ["search", "--mode", "ptq", "--model", "resnet20", "--weights", "w", "--data", "d"]
        for bad in [["--refine-significance", "-1"], ["--refine-significance", "nan"], ["--refine-significance", "inf"],
                    ["--refine-significance", "2", "--val-images", "0"]] {
            let (status, _, err) = try runDQSS(common + bad)
            #expect(status != 0 && err.contains("--refine-significance"), "\(bad): \(err)")
        }
    }

    @Test("an --out directory that cannot be created is refused before anything runs (weights and data not even opened), naming the flag and the path")
    func unwritableOutRefusedFirst() throws {
        guard FileManager.default.isExecutableFile(atPath: dqssExecutable.path) else { return }
        for command in [["search", "--mode", "ptq", "--model", "resnet20"], ["sr-search", "--model", "edsr", "--calib-data", "c"]] {
            let (status, _, err) = try runDQSS(command + ["--weights", "w", "--data", "d", "--out", "/dev/null/out"])
            #expect(status != 0 && err.contains("--out") && err.contains("/dev/null/out"), "\(command): \(err)")
        }
    }
}

@Suite("dqss search --mode ptq on CIFAR-10", .enabled(if: cifarCLITestsReady, "skipped: ../shared/datasets or the built dqss executable not found"))
struct PTQSearchCommandTests {
    let data = sharedDatasets.appendingPathComponent("cifar10").path

    @Test("--json reports every row, the selection never ends above a contender's validation score, and --out writes an exportable assignment")
    func endToEnd() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dqss-search-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let common = ["--model", "resnet20", "--weights", sharedWeights("akamaster_resnet20"), "--data", data,
                      "--calib", "32", "--limit", "100", "--eval-batch", "50", "--weight-bits", "4", "--act-bits", "8"]
        let (status, out, err) = try runDQSS(["search", "--mode", "ptq"] + common + [
            "--val-images", "48", "--eq-images", "8", "--search-epochs", "1", "--search-batch", "16", "--also-paper",
            "--json", "--out", dir.path])
        #expect(status == 0, "\(err)")
        #expect(out.split(separator: "\n").count == 1)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let uniform = try #require(o["uniform"] as? [String: Double])
        #expect(Set(uniform.keys) == ["Max_Abs", "KL", "EQ", "ADMM"])
        for key in ["fp32_top1", "dqss_top1", "derived_top1", "dqss_none_top1", "paper_derived_top1"] {
            let v = try #require(o[key] as? Double, "\(key)")
            #expect(v >= 0 && v <= 100)
        }
        #expect((o["fp32_top1"] as? Double ?? 0) > 85)
        // Quantized top-1 depends on the OpenBLAS kernel family by a few images: the report names it.
        #expect(o["openblas_core"] as? String == OpenBLASCore.name)
        let assignment = try #require(o["assignment"] as? [[String: Any]])
        #expect(assignment.count == 20)   // 19 convs + the classifier of ResNet-20
        let names = Set(uniform.keys)
        #expect(assignment.allSatisfy { names.contains($0["activation"] as? String ?? "") && names.contains($0["weight"] as? String ?? "") })
        for l in assignment {
            let theta = try #require(l["theta_activation"] as? [Double])
            #expect(theta.count == 4 && abs(theta.reduce(0, +) - 1) < 1e-9)
        }
        // §6.2's guarantee on the validation set: the final network scores no worse than the derived one
        // and every uniform candidate (the selection starts from the best, the refinement only decreases).
        let scores = try #require(o["validation_scores"] as? [String: Double])
        #expect(Set(scores.keys) == names.union(["derived"]))
        let final = try #require(o["final_validation_score"] as? Double)
        #expect(final <= scores.values.min()!)
        let counts = try #require(o["activation_counts"] as? [String: Int])
        #expect(counts.values.reduce(0, +) == 20)
        #expect(err.contains("search (paper)") && err.contains("search (annealed)") && err.contains("change(s) kept"))

        // The output directory: assignment.json that `dqss export` reads, the report, Figure 4.
        for f in ["assignment.json", "search.json", "figure4.svg"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), "\(f)")
        }
        let svg = try String(contentsOf: dir.appendingPathComponent("figure4.svg"), encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("EQ"))
        let exported = dir.appendingPathComponent("export.json").path
        let (es, _, ee) = try runDQSS(["export", "--from", dir.path, "--format", "json", "--out", exported])
        #expect(es == 0, "\(ee)")
        let e = try String(contentsOf: URL(fileURLWithPath: exported), encoding: .utf8)
        #expect(e.contains("layer3.2.conv2"))

        // The uniform rows use the calibration draw of `dqss ptq --seed 0`: same thresholds, same top-1.
        let (ps, pout, perr) = try runDQSS(["ptq"] + common + ["--method", "maxabs,admm", "--json"])
        #expect(ps == 0, "\(perr)")
        let p = try #require(try JSONSerialization.jsonObject(with: Data(pout.utf8)) as? [String: Any])
        let results = try #require(p["results"] as? [[String: Any]])
        #expect(results.map { $0["top1"] as? Double } == [uniform["Max_Abs"], uniform["ADMM"]])
        #expect(results.allSatisfy { $0["openblas_core"] as? String == OpenBLASCore.name })
    }

    @Test("--refine-significance is recorded; a gate no change can pass keeps every start, the plain rule on the same run keeps changes")
    func refineSignificanceGates() throws {
        let common = ["search", "--mode", "ptq", "--model", "resnet20", "--weights", sharedWeights("akamaster_resnet20"), "--data", data,
                      "--calib", "32", "--limit", "100", "--eval-batch", "50", "--weight-bits", "4", "--act-bits", "8",
                      "--val-images", "48", "--eq-images", "8", "--search-epochs", "1", "--search-batch", "16",
                      "--peers", "greedy", "--refine-from", "best", "--json", "--quiet"]
        func run(_ extra: [String]) throws -> [String: Any] {
            let (status, out, err) = try runDQSS(common + extra)
            #expect(status == 0, "\(err)")
            return try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        }
        let gated = try run(["--refine-significance", "1e9"])
        #expect(gated["refine_significance"] as? Double == 1e9)
        let refinements = try #require(gated["refinements"] as? [[String: Any]])
        #expect(!refinements.isEmpty)
        for r in refinements {
            #expect(r["changes"] as? Int == 0 && (r["validation_passes"] as? Int ?? 0) > 0, "\(r)")
            // Nothing kept: the final score is the start's (up to the per-image scores' Float64 sum).
            let start = try #require(r["start_score"] as? Double), final = try #require(r["validation_score"] as? Double)
            #expect(abs(final - start) < 1e-6 * max(1, start))
        }
        // The greedy peer keeps the plain rule, so it is not DQSS's refinement reused, and it keeps changes.
        let peers = try #require(gated["peers"] as? [[String: Any]])
        let greedy = try #require(peers.first { $0["peer"] as? String == "greedy" })
        #expect(greedy["shared_with_dqss"] as? Bool == false && (greedy["changes"] as? Int ?? 0) > 0, "\(greedy)")
        let plain = try run([])
        #expect(plain["refine_significance"] == nil)
        // The final network against every row on the same test images: the discordant counts give each
        // row's top-1 difference exactly (the oracle: the rows' own top-1 counts).
        let paired = try #require(plain["paired_with_final"] as? [[String: Any]])
        let final = try #require(plain["dqss_top1"] as? Double), total = 100.0
        var rows = try #require(plain["uniform"] as? [String: Double])
        rows["FP32"] = plain["fp32_top1"] as? Double
        for p in try #require(plain["peers"] as? [[String: Any]]) where p["peer"] as? String != "dqss" {
            rows[try #require(p["name"] as? String)] = p["top1"] as? Double
        }
        #expect(Set(rows.keys).isSubset(of: Set(paired.compactMap { $0["row"] as? String })), "\(paired)")
        for p in paired {
            let row = try #require(p["row"] as? String)
            let b = try #require(p["final_only"] as? Int), c = try #require(p["row_only"] as? Int)
            #expect(p["total"] as? Int == 100)
            if let top1 = rows[row] { #expect(abs(Double(b - c) - (final - top1) * total / 100) < 1e-6, "\(row): \(b) − \(c) vs \(final) − \(top1)") }
            let pValue = try #require(p["p_value"] as? Double)
            #expect(pValue > 0 && pValue <= 1)
        }
        let plainChanges = try #require((plain["refinements"] as? [[String: Any]])?.first?["changes"] as? Int)
        #expect(plainChanges > 0)
    }
}

extension PTQSearchCommandTests {
    @Test("--progressive-fixing and --gumbel-straight-through apply to the annealed search only and search.json records them per search")
    func annealedOnlyFlagsRecorded() throws {
        let (status, out, err) = try runDQSS(["search", "--mode", "ptq", "--model", "resnet20", "--weights", sharedWeights("akamaster_resnet20"),
                                              "--data", data, "--calib", "16", "--limit", "50", "--eval-batch", "50",
                                              "--weight-bits", "4", "--act-bits", "8", "--val-images", "16", "--eq-images", "8",
                                              "--search-epochs", "1", "--search-batch", "8", "--refine-passes", "0",
                                              "--also-paper", "--progressive-fixing", "--gumbel-straight-through", "--json", "--quiet"])
        #expect(status == 0, "\(err)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let searches = try #require(json["searches"] as? [[String: Any]])
        let fixing = Dictionary(uniqueKeysWithValues: searches.compactMap { s in
            (s["schedule"] as? String).map { ($0, s["progressive_fixing"] as? Bool) } })
        #expect(fixing == ["paper": false, "annealed": true], "\(fixing)")
        let gumbel = Dictionary(uniqueKeysWithValues: searches.compactMap { s in
            (s["schedule"] as? String).map { ($0, s["gumbel_straight_through"] as? Bool) } })
        #expect(gumbel == ["paper": false, "annealed": true], "\(gumbel)")
    }
}
