// The SVG charts of the output directories (Sources/DQSSRun/Charts): well-formed XML, one mark per value,
// the kept candidate outlined, values placed in proportion, hostile names escaped, and no crash on
// empty or non-finite data (a NaN loss step must still leave a readable loss.svg).

import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import DQSSRun

/// Parses `svg` and returns its elements (name, attributes) in document order; nil when not well-formed XML.
private func elements(_ svg: String) -> [(name: String, attributes: [String: String])]? {
    final class Collector: NSObject, XMLParserDelegate {
        var found: [(String, [String: String])] = []
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) { found.append((name, attributes)) }
    }
    let parser = XMLParser(data: Data(svg.utf8)), collector = Collector()
    parser.delegate = collector
    return parser.parse() ? collector.found.map { (name: $0.0, attributes: $0.1) } : nil
}

@Suite("Charts (SVG of the output directories)")
struct ChartsTests {
    @Test("theta heatmap: a cell per layer, side and candidate, shaded by θ, exactly the kept candidate outlined per side, names escaped")
    func thetaHeatmap() throws {
        let rows = [ThetaHeatmapRow(layer: "conv<1>&", activationTheta: [0.1, 0.7, 0.1, 0.1], weightTheta: [0.25, 0.25, 0.25, 0.25],
                                    activationChoice: 1, weightChoice: 0),
                    ThetaHeatmapRow(layer: "linear", activationTheta: [1, 0, 0, 0], weightTheta: [0, 0, 0, 1],
                                    activationChoice: 0, weightChoice: 3)]
        let svg = ThetaHeatmap.svg(title: "t", candidates: ["A", "B", "C", "D"], rows: rows)
        let e = try #require(elements(svg), "not well-formed XML")
        let cells = e.filter { $0.name == "rect" && $0.attributes["height"] == "18" }
        #expect(cells.count == 2 * 2 * 4)
        let outlined = cells.filter { $0.attributes["stroke"] == "#d62728" }
        #expect(outlined.count == 4)   // one per layer and side
        // θ = 1 is the darkest shade, θ = 0 white.
        #expect(cells.contains { $0.attributes["fill"] == "#08519c" } && cells.contains { $0.attributes["fill"] == "#ffffff" })
        #expect(svg.contains("conv&lt;1&gt;&amp;"))
    }

    @Test("line chart: a point per finite value in the plot area, NaN/Inf left out, 'no data' when nothing is finite")
    func lineChart() throws {
        let s = LineSeries(name: "loss", points: [(1, 2.0), (2, .nan), (3, 1.0), (4, .infinity), (5, 0.5)])
        let svg = LineChart.svg(title: "loss", xLabel: "epoch", yLabel: "loss", series: [s])
        let e = try #require(elements(svg))
        let circles = e.filter { $0.name == "circle" }
        #expect(circles.count == 3)
        let plot = try #require(e.first { $0.name == "rect" && $0.attributes["fill"] == "none" })
        let (x0, y0) = (Double(plot.attributes["x"]!)!, Double(plot.attributes["y"]!)!)
        let (w, h) = (Double(plot.attributes["width"]!)!, Double(plot.attributes["height"]!)!)
        let ys = circles.map { Double($0.attributes["cy"]!)! }
        #expect(circles.allSatisfy { c in
            let x = Double(c.attributes["cx"]!)!, y = Double(c.attributes["cy"]!)!
            return x >= x0 && x <= x0 + w && y >= y0 && y <= y0 + h
        })
        #expect(ys[0] < ys[1] && ys[1] < ys[2])   // loss 2 → 1 → 0.5: smaller values lower on the page (larger y)
        let empty = LineChart.svg(title: "x", xLabel: "", yLabel: "", series: [LineSeries(name: "n", points: [(1, .nan)])])
        #expect(elements(empty) != nil && empty.contains("no data"))
    }

    @Test("top-1 bars: bar lengths in the order of the values, the shipped network in the accent colour, NaN drawn as a label only")
    func top1Bars() throws {
        let bars = [Top1Bar(label: "uniform KL", top1: 74.49), Top1Bar(label: "uniform EQ", top1: 78.43),
                    Top1Bar(label: "DQSS final", top1: 78.87, highlighted: true), Top1Bar(label: "broken", top1: .nan)]
        let svg = Top1BarChart.svg(title: "t", bars: bars)
        let e = try #require(elements(svg))
        let rects = e.filter { $0.name == "rect" && $0.attributes["height"] == "20" }
        #expect(rects.count == 3)
        let widths = rects.map { Double($0.attributes["width"]!)! }
        #expect(widths[0] < widths[1] && widths[1] < widths[2] && widths[0] > 0)
        #expect(rects.map { $0.attributes["fill"] } == ["#1f77b4", "#1f77b4", "#d62728"])
        #expect(svg.contains(">broken<"))
    }
}
