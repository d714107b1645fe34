// LineChart: curves over steps or epochs (the search and training loss, top-1 per epoch) as an SVG line
// chart with axes, ticks and a legend. Non-finite points are left out (a NaN step is a gap, not a crash).

public struct LineSeries: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]
    public init(name: String, points: [(x: Double, y: Double)]) { (self.name, self.points) = (name, points) }
}

public enum LineChart {
    public static func svg(title: String, xLabel: String, yLabel: String, series: [LineSeries]) -> String {
        let left = 62, top = 40, plotW = 520, plotH = 240, legendW = 200
        let width = left + plotW + 30 + legendW, height = top + plotH + 56
        var out = SVG.open(width: width, height: height, title: title)
        let pts = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        guard let x0 = pts.map(\.x).min(), let x1 = pts.map(\.x).max(), let y0 = pts.map(\.y).min(), let y1 = pts.map(\.y).max() else {
            out.append("<text x=\"\(left)\" y=\"\(top + 20)\">no data</text>")
            return SVG.close(out)
        }
        let integral = pts.allSatisfy { $0.x == $0.x.rounded() }
        let (xt, xs) = SVG.ticks(x0, x1 == x0 ? x0 + 1 : x1, integral: integral)
        let (yt, ys) = SVG.ticks(y0, y1 == y0 ? y0 + 1 : y1)
        let (xa, xb, ya, yb) = (xt.first!, xt.last!, yt.first!, yt.last!)
        func px(_ x: Double) -> Double { Double(left) + Double(plotW) * (x - xa) / (xb - xa) }
        func py(_ y: Double) -> Double { Double(top + plotH) - Double(plotH) * (y - ya) / (yb - ya) }
        for v in yt {
            out.append(String(format: "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>", left, py(v), left + plotW, py(v)))
            out.append(String(format: "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%@</text>", left - 6, py(v) + 4, SVG.tick(v, step: ys)))
        }
        for v in xt {
            out.append(String(format: "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#eee\"/>", px(v), top, px(v), top + plotH))
            out.append(String(format: "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%@</text>", px(v), top + plotH + 16, SVG.tick(v, step: xs)))
        }
        out.append("<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotW)\" height=\"\(plotH)\" fill=\"none\" stroke=\"#888\"/>")
        out.append("<text x=\"\(left + plotW / 2)\" y=\"\(top + plotH + 38)\" text-anchor=\"middle\">\(SVG.escape(xLabel))</text>")
        out.append("<text x=\"14\" y=\"\(top + plotH / 2)\" transform=\"rotate(-90 14 \(top + plotH / 2))\" text-anchor=\"middle\">\(SVG.escape(yLabel))</text>")
        for (k, s) in series.enumerated() {
            let color = SVG.palette[k % SVG.palette.count]
            let good = s.points.filter { $0.x.isFinite && $0.y.isFinite }
            let path = good.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
            if good.count > 1 { out.append("<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.6\"/>") }
            for p in good where good.count <= 40 {
                out.append(String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%@\"><title>%@: %g, %g</title></circle>", px(p.x), py(p.y), color, SVG.escape(s.name), p.x, p.y))
            }
            let ly = top + 10 + k * 20, lx = left + plotW + 30
            out.append("<rect x=\"\(lx)\" y=\"\(ly - 9)\" width=\"12\" height=\"12\" fill=\"\(color)\"/>")
            out.append("<text x=\"\(lx + 18)\" y=\"\(ly + 1)\">\(SVG.escape(s.name))</text>")
        }
        return SVG.close(out)
    }
}
