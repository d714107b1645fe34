// Top1BarChart: the rows of a result (each uniform candidate, DQSS-None, the derived and the final DQSS
// network, FP32) as horizontal bars of top-1, so the winner and the gaps are seen before they are read.
// The axis starts a little below the lowest bar, not at 0: at 8 bits the rows differ by tenths of a point.

public struct Top1Bar: Sendable {
    public var label: String
    public var top1: Double
    /// Drawn in the accent colour (the network dqss ships).
    public var highlighted: Bool
    public init(label: String, top1: Double, highlighted: Bool = false) { (self.label, self.top1, self.highlighted) = (label, top1, highlighted) }
}

public enum Top1BarChart {
    public static func svg(title: String, bars: [Top1Bar]) -> String {
        let labelW = 8 * max(8, bars.map(\.label.count).max() ?? 0) + 12
        let left = labelW, top = 40, barH = 20, plotW = 420
        let width = left + plotW + 80, height = top + bars.count * (barH + 6) + 40
        var out = SVG.open(width: width, height: height, title: title)
        let values = bars.map(\.top1).filter(\.isFinite)
        guard let lo = values.min(), let hi = values.max() else { return SVG.close(out) }
        let (t, step) = SVG.ticks(max(0, lo - max(1, (hi - lo) * 0.15)), min(100, hi + max(0.5, (hi - lo) * 0.05)))
        let (a, b) = (t.first!, t.last!)
        func px(_ v: Double) -> Double { Double(left) + Double(plotW) * (min(max(v, a), b) - a) / (b - a) }
        let bottom = top + bars.count * (barH + 6)
        for v in t {
            out.append(String(format: "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>", px(v), top - 4, px(v), bottom))
            out.append(String(format: "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%@</text>", px(v), bottom + 16, SVG.tick(v, step: step)))
        }
        out.append("<text x=\"\(left + plotW / 2)\" y=\"\(bottom + 32)\" text-anchor=\"middle\">top-1 %</text>")
        for (k, bar) in bars.enumerated() {
            let y = top + k * (barH + 6)
            let color = bar.highlighted ? "#d62728" : "#1f77b4"
            out.append("<text x=\"\(left - 6)\" y=\"\(y + barH - 6)\" text-anchor=\"end\">\(SVG.escape(bar.label))</text>")
            guard bar.top1.isFinite else { continue }
            out.append(String(format: "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%@\"/>", left, y, px(bar.top1) - Double(left), barH, color))
            out.append(String(format: "<text x=\"%.1f\" y=\"%d\" font-size=\"11\">%.2f</text>", px(bar.top1) + 4, y + barH - 6, bar.top1))
        }
        return SVG.close(out)
    }
}
