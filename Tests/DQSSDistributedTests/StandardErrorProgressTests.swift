import Foundation
import Testing
import DQSSDistributed

/// Progress redirected to a file (issue 19: `dqss demo 2>file` wrote 234 carriage-return/escape sequences,
/// one line of 13,900 bytes): in-place updates become plain lines at a steady rate, the last one of a
/// sequence is kept, escape codes are dropped.
@Suite("stderr progress in a file", .serialized)
struct StandardErrorProgressTests {
    @Test("in-place updates: carriage return and erase-to-end removed, at most one line per interval, the final state kept")
    func plainLines() {
        let t0 = 1_000_000.0   // far from any earlier call's clock
        #expect(StandardErrorProgress.plain("\rstep 1/9 loss 2.0\u{1B}[K", now: t0) == "step 1/9 loss 2.0\n")
        #expect(StandardErrorProgress.plain("\rstep 2/9 loss 1.9\u{1B}[K", now: t0 + 1) == nil)
        #expect(StandardErrorProgress.plain("\rstep 3/9 loss 1.8\u{1B}[K", now: t0 + 2) == nil)
        // A lone newline ends the sequence: the skipped final state is written.
        #expect(StandardErrorProgress.plain("\n", now: t0 + 3) == "step 3/9 loss 1.8\n")
        #expect(StandardErrorProgress.plain("\n", now: t0 + 3.5) == nil)
        // After the interval the next update is written again.
        #expect(StandardErrorProgress.plain("\rstep 9/9 loss 1.0", now: t0 + 2 + StandardErrorProgress.fileInterval + 1)
                == "step 9/9 loss 1.0\n")
        // An update that ends its own line is always written; ordinary lines pass unchanged.
        #expect(StandardErrorProgress.plain("\rtop-1 81.03 %\u{1B}[K\n", now: t0 + 20.5) == "top-1 81.03 %\n")
        #expect(StandardErrorProgress.plain("resumed from ckpt\n", now: t0 + 20.6) == "resumed from ckpt\n")
    }
}
