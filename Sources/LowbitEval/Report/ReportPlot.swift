import Foundation

/// A picture of the per-tensor errors of a comparison: one horizontal bar per tensor showing
/// its signal-to-noise ratio (dB; longer is better), coloured by the tensor's kind, in a
/// self-contained HTML page (inline SVG, no scripts or external files) or a bare SVG.
public enum ReportPlot {
    /// The SVG drawing of `errors`.
    public static func svg(errors: [TensorError], title: String) -> String {
        let rowHeight = 14
        let labelWidth = 260
        let barWidth = 520
        let top = 40
        let height = top + rowHeight * max(1, errors.count) + 40
        let width = labelWidth + barWidth + 90
        let finite = errors.map(\.metrics.snrDB).filter(\.isFinite)
        let maxSNR = max(1, (finite.max() ?? 1).rounded(.up))
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" \
            font-family="sans-serif" font-size="11">
            <text x="10" y="20" font-size="14" font-weight="bold">\(escape(title))</text>
            <text x="\(labelWidth)" y="34" fill="#555">SNR (dB), 0 to \(format(maxSNR)) — longer is better</text>

            """
        for (i, e) in errors.enumerated() {
            let y = top + i * rowHeight
            let snr = e.metrics.snrDB
            let length = snr.isFinite ? max(0, min(1, snr / maxSNR)) * Double(barWidth) : Double(barWidth)
            let value = snr.isFinite ? format(snr) : "exact"
            s += """
                <text x="\(labelWidth - 6)" y="\(y + 10)" text-anchor="end">\(escape(e.name)) \
                <tspan fill="#888">\(escape(e.quantType))</tspan></text>
                <rect x="\(labelWidth)" y="\(y + 2)" width="\(format(length))" height="\(rowHeight - 4)" \
                fill="\(color(for: e.name))"><title>\(escape(e.name)): \(value) dB, MSE \(String(format: "%.3g", e.metrics.mse)), \
                cosine \(String(format: "%.6f", e.metrics.cosine))</title></rect>
                <text x="\(labelWidth + Int(length) + 4)" y="\(y + 10)" fill="#333">\(value)</text>

                """
        }
        s += "</svg>\n"
        return s
    }

    /// A self-contained HTML page: the summary lines, the drawing, and the table.
    public static func html(errors: [TensorError], title: String, summary: [(String, String)]) -> String {
        var rows = ""
        for e in errors {
            rows += "<tr><td>\(escape(e.name))</td><td>\(escape(e.baseType))</td><td>\(escape(e.quantType))</td>"
                + "<td>\(e.elements)</td><td>\(String(format: "%.4g", e.metrics.mse))</td>"
                + "<td>\(e.metrics.snrDB.isFinite ? format(e.metrics.snrDB) : "exact")</td>"
                + "<td>\(String(format: "%.6f", e.metrics.cosine))</td>"
                + "<td>\(String(format: "%.4g", e.metrics.maxAbsError))</td></tr>\n"
        }
        let facts = summary.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined(separator: "\n")
        return """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>body{font-family:sans-serif;margin:20px}table{border-collapse:collapse;font-size:12px}
            td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f4f4f4}
            td:first-child{text-align:left}</style></head><body>
            <h1>\(escape(title))</h1>
            <table>\(facts)</table>
            <h2>Per-tensor error</h2>
            \(svg(errors: errors, title: "Signal-to-noise ratio per tensor"))
            <table><tr><th>tensor</th><th>base</th><th>quant</th><th>elements</th><th>MSE</th><th>SNR dB</th>\
            <th>cosine</th><th>max |err|</th></tr>
            \(rows)</table>
            </body></html>

            """
    }

    static func color(for name: String) -> String {
        if name.contains("attn_q") || name.contains("q_proj") { return "#4e79a7" }
        if name.contains("attn_k") || name.contains("k_proj") { return "#76b7b2" }
        if name.contains("attn_v") || name.contains("v_proj") { return "#59a14f" }
        if name.contains("attn_output") || name.contains("o_proj") { return "#edc948" }
        if name.contains("gate") { return "#e15759" }
        if name.contains("up") { return "#ff9da7" }
        if name.contains("down") { return "#b07aa1" }
        if name.contains("embd") || name.contains("embed") || name.contains("output") || name.contains("lm_head") {
            return "#f28e2b"
        }
        return "#9c755f"
    }

    static func format(_ v: Double) -> String { String(format: "%.1f", v) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
