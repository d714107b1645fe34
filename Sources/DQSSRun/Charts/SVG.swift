// SVG: the few pieces every chart of an output directory shares — escaping, a white canvas with a title,
// number formatting for axis ticks, and the palette — so each chart file holds only its own geometry.
// The charts are small self-contained SVG files (no scripts, no external fonts) that a browser, a
// Markdown viewer or an image viewer shows as they are.

import Foundation

enum SVG {
    /// Series colours (matplotlib's tab10, first six): the same candidate/series has the same colour everywhere.
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// The opening of a document of `width` x `height` with a white background and `title` at the top left.
    /// The document is widened to fit the title (about 8 px per character at 14 px).
    static func open(width: Int, height: Int, title: String) -> [String] {
        let width = max(width, 24 + 8 * title.count)
        return ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"12\">",
         "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
         "<text x=\"12\" y=\"22\" font-size=\"14\">\(escape(title))</text>"]
    }

    static func close(_ lines: [String]) -> String { (lines + ["</svg>"]).joined(separator: "\n") + "\n" }

    /// A tick label: as few digits as tell the ticks apart.
    static func tick(_ v: Double, step: Double) -> String {
        let digits = step >= 1 ? 0 : min(6, Int((-log10(step)).rounded(.up)))
        return String(format: "%.\(digits)f", v)
    }

    /// "Nice" ticks covering [lo, hi]: steps of 1, 2 or 5 times a power of ten, about `count` of them.
    /// `integral`: the values are counts (epochs): no step below 1.
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5, integral: Bool = false) -> (values: [Double], step: Double) {
        let span = max(hi - lo, 1e-12)
        let raw = integral ? max(1, span / Double(max(1, count))) : span / Double(max(1, count))
        let p = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * p }.first { $0 >= raw } ?? 10 * p
        let first = (lo / step).rounded(.down) * step
        var values: [Double] = []
        var v = first
        while v <= hi + step * 1e-9 { values.append(v); v += step }
        if values.last.map({ $0 < hi }) ?? true { values.append(v) }
        return (values, step)
    }
}
