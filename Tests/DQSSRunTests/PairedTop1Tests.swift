// PairedTop1 (the final network against another row on the same test images) against hand-computed
// McNemar p-values and paired standard errors.

import Foundation
import Testing
import DQSSRun

@Suite("PairedTop1 (McNemar on the test split)")
struct PairedTop1Tests {
    @Test("exact two-sided McNemar p equals the hand-computed binomial tail")
    func mcNemar() {
        // b = 10, c = 2: n = 12, P(X ≤ 2) = (1 + 12 + 66) / 4096, p = 2 · 79 / 4096.
        #expect(abs(PairedTop1.mcNemarPValue(10, 2) - 158.0 / 4096) < 1e-12)
        #expect(abs(PairedTop1.mcNemarPValue(2, 10) - 158.0 / 4096) < 1e-12)
        // b = 5, c = 0: 2 / 32.
        #expect(abs(PairedTop1.mcNemarPValue(5, 0) - 2.0 / 32) < 1e-12)
        // Equal counts, or none: no evidence either way.
        #expect(PairedTop1.mcNemarPValue(7, 7) == 1 && PairedTop1.mcNemarPValue(0, 0) == 1)
        // b = 3, c = 4: 2 · P(X ≤ 3), n = 7 = 2 · (1 + 7 + 21 + 35) / 128 = 1 (clamped).
        #expect(abs(PairedTop1.mcNemarPValue(3, 4) - 1) < 1e-12)
        // Large n stays finite and symmetric: 1,000 vs 1,100 discordant images (z ≈ 2.24, p ≈ 0.03).
        let p = PairedTop1.mcNemarPValue(1000, 1100)
        #expect(p > 0.02 && p < 0.04 && p == PairedTop1.mcNemarPValue(1100, 1000))
    }

    @Test("difference and standard error in points from the discordant counts")
    func differenceAndError() {
        let p = PairedTop1(row: "EQ", finalOnly: 40, rowOnly: 60, total: 10_000)
        #expect(abs(p.difference - -0.2) < 1e-12)
        // √(100 − 400 / 10,000) / 10,000 · 100 = √99.96 / 100.
        #expect(abs(p.standardError - 99.96.squareRoot() / 100) < 1e-12)
        let json = String(decoding: try! JSONEncoder().encode(p), as: UTF8.self)
        #expect(json.contains("\"pValue\"") && json.contains("\"difference\""))
        #expect(try! JSONDecoder().decode(PairedTop1.self, from: Data(json.utf8)) == p)
    }
}
