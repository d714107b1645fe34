// Printing the report of `dqss search --mode ptq` (PTQSearchReport, DQSSRun): the output directory, then
// stdout (JSON, a Markdown row, or the tables).

import Foundation
import DQSSDistributed
import DQSSRun

extension PTQSearchReport {
    /// Rank 0's output: the directory (--out), then stdout: JSON, a Markdown row, or the tables.
    func emit(_ o: PTQSearchOptions, log: RankLog) throws {
        if let out = o.out {
            try write(to: URL(fileURLWithPath: out))
            log.progress("wrote \(out)/assignment.json, search.json, figure4.svg, theta.svg, top1.svg, loss.svg\n")
        }
        if o.json {
            try printJSON()
        } else if o.markdown {
            print(markdownRow())
            // The peer table's rows follow the row (scripts/search-table.sh collects them into a second table).
            for row in peerMarkdownRows() { print(row) }
        } else {
            print(layerTable())
            print(summary())
        }
    }

}
