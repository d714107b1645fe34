// AssignmentChart: the paper's Figure 4 as a small self-contained SVG: for each candidate strategy, how
// many layers chose it, one bar per series (activations and weights, final and search argmax).

/// The per-layer assignment as an SVG bar chart (the paper's Figure 4).
public enum AssignmentChart {
    public static func svg(title: String, candidates: [String], series: [(name: String, counts: [String: Int])]) -> String {
        let colors = ["#1f77b4", "#d62728", "#aec7e8", "#ff9896", "#2ca02c", "#9467bd"]   // light = the search argmax
        let maxCount = max(1, series.flatMap { $0.counts.values }.max() ?? 1)
        let barW = 22, gap = 30, left = 50, top = 50, plotH = 220
        let groupW = series.count * barW + gap
        let width = left + candidates.count * groupW + 40 + 190
        let height = top + plotH + 60
        let esc = SVG.escape
        var out = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"12\">",
                   "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
                   "<text x=\"\(left)\" y=\"22\" font-size=\"14\">\(esc(title))</text>"]
        // Axis and ticks.
        let ticks = Swift.min(maxCount, 5)
        for t in 0...ticks {
            let v = Int((Double(maxCount) * Double(t) / Double(ticks)).rounded())
            let y = top + plotH - plotH * v / maxCount
            out.append("<line x1=\"\(left - 4)\" y1=\"\(y)\" x2=\"\(left + candidates.count * groupW)\" y2=\"\(y)\" stroke=\"#ddd\"/>")
            out.append("<text x=\"\(left - 8)\" y=\"\(y + 4)\" text-anchor=\"end\">\(v)</text>")
        }
        out.append("<text x=\"14\" y=\"\(top + plotH / 2)\" transform=\"rotate(-90 14 \(top + plotH / 2))\" text-anchor=\"middle\">layers</text>")
        for (g, c) in candidates.enumerated() {
            let x0 = left + g * groupW + gap / 2
            for (k, s) in series.enumerated() {
                let n = s.counts[c] ?? 0
                let h = plotH * n / maxCount
                let x = x0 + k * barW
                out.append("<rect x=\"\(x)\" y=\"\(top + plotH - h)\" width=\"\(barW - 2)\" height=\"\(h)\" fill=\"\(colors[k % colors.count])\"><title>\(esc(s.name)) \(esc(c)): \(n)</title></rect>")
                out.append("<text x=\"\(x + barW / 2 - 1)\" y=\"\(top + plotH - h - 3)\" text-anchor=\"middle\" font-size=\"10\">\(n)</text>")
            }
            out.append("<text x=\"\(x0 + series.count * barW / 2)\" y=\"\(top + plotH + 18)\" text-anchor=\"middle\">\(esc(c))</text>")
        }
        let lx = left + candidates.count * groupW + 30
        for (k, s) in series.enumerated() {
            let y = top + 10 + k * 20
            out.append("<rect x=\"\(lx)\" y=\"\(y - 10)\" width=\"12\" height=\"12\" fill=\"\(colors[k % colors.count])\"/>")
            out.append("<text x=\"\(lx + 18)\" y=\"\(y)\">\(esc(s.name))</text>")
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }
}
