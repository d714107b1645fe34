// ThetaHeatmap: the per-layer strategy weights θ of a DQSS search as a heatmap — one row per quantized
// layer, one column per candidate for the activations (θ_α) and again for the weights (θ_β), the cell's
// shade and number the θ, the chosen candidate outlined. It shows at a glance what the tables say in
// numbers: which layers decided (one dark cell) and which did not (an even row).

import DQSSFormats

/// One row of the heatmap.
public struct ThetaHeatmapRow: Sendable {
    public var layer: String
    public var activationTheta: [Double]
    public var weightTheta: [Double]
    /// Index of the candidate the final assignment keeps on each side (outlined), if any.
    public var activationChoice: Int?
    public var weightChoice: Int?

    public init(layer: String, activationTheta: [Double], weightTheta: [Double], activationChoice: Int? = nil, weightChoice: Int? = nil) {
        (self.layer, self.activationTheta, self.weightTheta) = (layer, activationTheta, weightTheta)
        (self.activationChoice, self.weightChoice) = (activationChoice, weightChoice)
    }
}

public enum ThetaHeatmap {
    /// The SVG document. θ values are clamped to [0, 1] for the shade; the number is printed as is.
    public static func svg(title: String, candidates: [String], rows: [ThetaHeatmapRow]) -> String {
        let cell = 34, rowH = 18
        let nameW = 8 * max(6, rows.map(\.layer.count).max() ?? 0) + 12
        let left = nameW, top = 66, sideGap = 24
        let sideW = candidates.count * cell
        let width = left + 2 * sideW + sideGap + 20
        let height = top + rows.count * rowH + 30
        var out = SVG.open(width: width, height: height, title: title)
        for (s, side) in ["activations θ_α", "weights θ_β"].enumerated() {
            let x0 = left + s * (sideW + sideGap)
            out.append("<text x=\"\(x0 + sideW / 2)\" y=\"42\" text-anchor=\"middle\">\(SVG.escape(side))</text>")
            for (k, c) in candidates.enumerated() {
                out.append("<text x=\"\(x0 + k * cell + cell / 2)\" y=\"\(top - 6)\" text-anchor=\"middle\" font-size=\"10\">\(SVG.escape(c))</text>")
            }
        }
        for (r, row) in rows.enumerated() {
            let y = top + r * rowH
            out.append("<text x=\"\(left - 6)\" y=\"\(y + rowH - 5)\" text-anchor=\"end\" font-size=\"11\">\(SVG.escape(row.layer))</text>")
            for (s, (theta, choice)) in [(row.activationTheta, row.activationChoice), (row.weightTheta, row.weightChoice)].enumerated() {
                let x0 = left + s * (sideW + sideGap)
                for (k, t) in theta.enumerated() where k < candidates.count {
                    let v = min(1, max(0, t.isFinite ? t : 0))
                    // White (θ = 0) to blue (θ = 1); the text turns white on dark cells.
                    let shade = { (a: Double, b: Double) in Int((a + (b - a) * v).rounded()) }
                    let fill = String(format: "#%02x%02x%02x", shade(255, 8), shade(255, 81), shade(255, 156))
                    let x = x0 + k * cell
                    let stroke = k == choice ? " stroke=\"#d62728\" stroke-width=\"2\"" : " stroke=\"#eee\""
                    out.append("<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell)\" height=\"\(rowH)\" fill=\"\(fill)\"\(stroke)><title>\(SVG.escape(row.layer)) \(SVG.escape(candidates[k])): θ = \(String(format: "%.4f", t))</title></rect>")
                    out.append("<text x=\"\(x + cell / 2)\" y=\"\(y + rowH - 5)\" text-anchor=\"middle\" font-size=\"9\" fill=\"\(v > 0.5 ? "white" : "black")\">\(String(format: "%.2f", t))</text>")
                }
            }
        }
        out.append("<text x=\"\(left)\" y=\"\(height - 10)\" font-size=\"10\">red outline: the candidate kept</text>")
        return SVG.close(out)
    }
}

extension Array where Element == AssignmentLayer {
    /// Heatmap rows from an assignment's θ (PTQ search: thetaActivation/thetaWeight; QAT: the same fields,
    /// filled from α/β at the final temperature), the kept candidate outlined. Layers without θ get an empty row.
    public func thetaHeatmapRows(candidates: [String]) -> [ThetaHeatmapRow] {
        map { l in
            ThetaHeatmapRow(layer: l.name, activationTheta: l.thetaActivation ?? [], weightTheta: l.thetaWeight ?? [],
                            activationChoice: candidates.firstIndex(of: l.activation), weightChoice: candidates.firstIndex(of: l.weight))
        }
    }
}
