import FedSimulation
import Foundation

/// Writes `summary.csv` and a self-contained `report.html` (inline SVG charts, no scripts, no
/// network) for a comparison directory or a single run directory.
public enum Report {
    /// The finished runs of one unit (variant or trial), by seed, and the names of missing ones.
    static func finishedRuns(
        _ root: URL, _ unit: CompareSpec.Variant, seeds: [Int], missing: inout [String]
    ) throws -> [Int: RunMetrics] {
        var runs: [Int: RunMetrics] = [:]
        for seed in seeds {
            let dir = CompareManifest.runDirectory(root, variant: unit, seed: seed)
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("summary.json").path) {
                runs[seed] = try RunMetrics.load(dir)
            } else {
                missing.append("\(unit.name) seed \(seed)")
            }
        }
        return runs
    }

    /// A comparison: one row and one chart line (mean across seeds, band from min to max) per
    /// variant — for a tuned comparison, per variant at its best validated point, with the
    /// heat maps of the whole space and `tuning.csv`.
    @discardableResult
    public static func writeComparison(root: URL) throws -> [VariantSummary] {
        let manifest = try CompareManifest.load(root)
        var summaries: [VariantSummary] = []
        var lines: [ChartLine] = []
        var missing: [String] = []
        let window = manifest.finalWindow ?? 5
        var tuned: TuningResults?
        // Each row: the variant it stands for, the name shown, its runs.
        var rows: [(variant: String, name: String, runs: [Int: RunMetrics], overrides: [String])] = []
        if let tuning = manifest.tuning, let trials = manifest.trials {
            let results = try TuningResults(
                root: root, tuning: tuning, variantTunings: manifest.variantTunings, trials: trials,
                seeds: tuning.seeds ?? manifest.seeds, window: window, missing: &missing)
            for variant in manifest.variants {
                if let best = results.best[variant.name] {
                    // With tuning seeds of its own, the chosen point is reported on the comparison's seeds.
                    let runs =
                        tuning.seeds == nil
                        ? best.runs : try finishedRuns(root, best.trial.unit, seeds: manifest.seeds, missing: &missing)
                    if !runs.isEmpty {
                        rows.append((variant.name, best.trial.unit.name, runs, best.trial.unit.overrides))
                    }
                }
            }
            tuned = results
        } else {
            for variant in manifest.variants {
                let runs = try finishedRuns(root, variant, seeds: manifest.seeds, missing: &missing)
                if !runs.isEmpty { rows.append((variant.name, variant.name, runs, variant.overrides)) }
            }
        }
        for (i, row) in rows.enumerated() {
            summaries.append(
                VariantSummary(variant: row.name, runs: row.runs, target: manifest.targetAccuracy, finalWindow: window))
            lines.append(ChartLine(name: row.name, index: i, runs: row.runs.keys.sorted().map { row.runs[$0]! }))
        }
        let baselineVariant = manifest.baseline ?? manifest.variants.first?.name
        let baselineIndex = rows.firstIndex { $0.variant == baselineVariant }
        let baselineName = baselineIndex.map { rows[$0].name } ?? baselineVariant
        if let b = baselineIndex {
            for i in summaries.indices where i != b {
                summaries[i].versusBaseline = PairedComparison(
                    variant: summaries[i].primaryBySeed, baseline: summaries[b].primaryBySeed)
            }
        }
        let csv = VariantSummary.csvHeader + summaries.map(\.csvRow).joined()
        try RunDirectory.writeAtomically(Data(csv.utf8), to: root.appendingPathComponent("summary.csv"))
        var markdownText = markdown(
            summaries, seeds: manifest.seeds.count, target: manifest.targetAccuracy, window: window,
            baseline: baselineName)
        for warning in tuned?.edgeWarnings ?? [] { markdownText += "\nWarning: \(warning)\n" }
        try RunDirectory.writeAtomically(Data(markdownText.utf8), to: root.appendingPathComponent("summary.md"))
        let classification = lines.contains { $0.runs.contains { $0.rounds.contains { $0.testAccuracy != nil } } }
        let metrics: [Metric] = classification ? [.accuracy, .loss, .weightNorm] : [.loss, .rmse, .weightNorm]
        let tunedText: String = tuned.map { " × \($0.pointsText) (ranked on \($0.tuning.metric))" } ?? ""
        var note: String = "\(manifest.variants.count) variant(s)" + tunedText
        note +=
            " × \(manifest.seeds.count) seed(s) "
            + "(\(manifest.seeds.map(String.init).joined(separator: ", "))), \(manifest.mode); base topology "
            + "\(manifest.base)."
        if !missing.isEmpty { note += " Not finished yet: \(missing.count) run(s)." }
        var charts = metrics.map { chart($0, lines) }
        var chartFiles = metrics.map(\.fileName)
        if hasVirtualTime(lines) {
            charts.insert(chart(metrics[0], lines, axis: .virtualTime), at: 1)
            chartFiles.insert("\(metrics[0].fileName)-virtual-time", at: 1)
        }
        if hasClientAccuracies(lines) {
            charts.append(distributionChart(lines))
            chartFiles.append("client-accuracy-distribution")
        }
        let chartDirectory = root.appendingPathComponent("charts")
        try FileManager.default.createDirectory(at: chartDirectory, withIntermediateDirectories: true)
        for (file, svg) in zip(chartFiles, charts) {
            try RunDirectory.writeAtomically(Data(svg.utf8), to: chartDirectory.appendingPathComponent("\(file).svg"))
        }
        var sections: [String] = []
        if let tuned {
            try RunDirectory.writeAtomically(Data(tuned.csv.utf8), to: root.appendingPathComponent("tuning.csv"))
            let maps = tuned.heatMaps()
            for (variant, svg) in maps {
                let file =
                    "heatmap-" + String(variant.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }) + ".svg"
                try RunDirectory.writeAtomically(Data(svg.utf8), to: chartDirectory.appendingPathComponent(file))
            }
            sections.append(
                "<h2>Search space</h2>\n<p>\(escape(tuned.caption))</p>\n"
                    + "<div class=\"maps\">" + maps.map { "<figure>\($0.svg)</figure>" }.joined(separator: "\n")
                    + "</div>\n" + tuned.table)
        }
        let html = page(
            title: "FedSim comparison: \(manifest.name)", note: note,
            charts: charts.map { "<figure>\($0)</figure>" },
            table: table(
                summaries, target: manifest.targetAccuracy, classification: classification, window: window,
                baseline: baselineName, overrides: rows.map(\.overrides)),
            sections: sections, seeds: manifest.seeds.count)
        try RunDirectory.writeAtomically(Data(html.utf8), to: root.appendingPathComponent("report.html"))
        return summaries
    }

    /// A single run directory: its charts and a one-row table.
    public static func writeRun(dir: URL) throws {
        let run = try RunMetrics.load(dir)
        let name = dir.lastPathComponent
        let classification = run.rounds.contains { $0.testAccuracy != nil }
        let metrics: [Metric] = classification ? [.accuracy, .loss, .weightNorm] : [.loss, .rmse, .weightNorm]
        let line = ChartLine(name: name, index: 0, runs: [run])
        let summary = VariantSummary(variant: name, runs: [0: run], target: nil, finalWindow: 5)
        let html = page(
            title: "FedSim run: \(name)",
            note: "\(run.rounds.count - 1) rounds; last weights hash \(run.rounds.last?.weightsHash ?? "")",
            charts: (metrics.map { chart($0, [line]) }
                + (hasVirtualTime([line]) ? [chart(metrics[0], [line], axis: .virtualTime)] : [])
                + (hasClientAccuracies([line]) ? [distributionChart([line])] : [])).map {
                    "<figure>\($0)</figure>"
                },
            table: table([summary], target: nil, classification: classification, window: 5, baseline: nil), seeds: 1)
        try RunDirectory.writeAtomically(Data(html.utf8), to: dir.appendingPathComponent("report.html"))
    }

    struct ChartLine {
        var name: String
        var index: Int
        var runs: [RunMetrics]

        /// The legend's label: the table's row number and the name without a tuned point's
        /// `[…]`, cut at 46 characters (the table has the full name and every setting).
        var label: String {
            var short = name
            if short.hasSuffix("]"), let open = short.range(of: " [", options: .backwards) {
                short = String(short[..<open.lowerBound])
            }
            return "\(index + 1). " + (short.count > 46 ? String(short.prefix(45)) + "…" : short)
        }
    }

    static let palette = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    ]
    /// Solid, dashed, dotted, dash-dot: with the ten colours, 40 line styles before one repeats.
    static let dashes = ["", "7 3", "2 2", "8 3 2 3"]

    /// Line `index`'s colour and dash: every colour solid first, then every colour dashed, and so
    /// on, so no two of the first 40 lines of a chart look alike.
    static func style(_ index: Int) -> (color: String, dash: String) {
        let dash = dashes[(index / palette.count) % dashes.count]
        return (palette[index % palette.count], dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"")
    }

    /// Seed bands are drawn up to this many lines; beyond, they only smear the chart.
    static let maxBands = 6

    /// What a chart's x axis counts.
    enum XAxis {
        case round
        /// The virtual clock's seconds (`virtual_time`): round r sits at the seeds' mean virtual
        /// time at its end, as FedScale plots accuracy against time.
        case virtualTime
    }

    /// Whether every run of every line carries the virtual clock's time.
    static func hasVirtualTime(_ lines: [ChartLine]) -> Bool {
        !lines.isEmpty
            && lines.allSatisfy { $0.runs.allSatisfy { $0.rounds.dropFirst().allSatisfy { $0.virtualTime != nil } } }
    }

    /// An SVG line chart: per variant the mean across seeds, and a band from min to max, per round
    /// or against virtual time.
    static func chart(_ metric: Metric, _ lines: [ChartLine], axis: XAxis = .round) -> String {
        let (width, plotHeight, left, right) = (Frame.width, Frame.plotHeight, Frame.left, 16.0)
        let (top, bottom) = (Frame.top, Frame.bottom)
        var series: [(line: ChartLine, mean: [Double], low: [Double], high: [Double], at: [Double])] = []
        for line in lines {
            let all = line.runs.map { $0.series(metric) }
            let length = all.map(\.count).min() ?? 0
            var mean: [Double] = []
            var low: [Double] = []
            var high: [Double] = []
            var at: [Double] = []
            for r in 0..<length {
                let values = all.map { $0[r] }.filter(\.isFinite)
                mean.append(values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count))
                low.append(values.min() ?? .nan)
                high.append(values.max() ?? .nan)
                switch axis {
                case .round: at.append(Double(r))
                case .virtualTime:
                    let times = line.runs.map { $0.rounds[r].virtualTime ?? 0 }
                    at.append(times.reduce(0, +) / Double(max(1, times.count)))
                }
            }
            series.append((line, mean, low, high, at))
        }
        let finite = series.flatMap { $0.low + $0.high }.filter(\.isFinite)
        let maxRound = max(1, (series.map(\.mean.count).max() ?? 1) - 1)
        let maxX: Double =
            switch axis {
            case .round: Double(maxRound)
            case .virtualTime: max(1e-9, series.compactMap { $0.at.last }.max() ?? 1)
            }
        var lo = finite.min() ?? 0
        var hi = finite.max() ?? 1
        if hi - lo < 1e-12 {
            lo -= 0.5
            hi += 0.5
        }
        let pad = (hi - lo) * 0.05
        lo -= pad
        hi += pad
        func x(_ value: Double) -> Double { left + (width - left - right) * value / maxX }
        func y(_ v: Double) -> Double { top + (plotHeight - top - bottom) * (1 - (v - lo) / (hi - lo)) }
        var svg = Frame.opening(
            label: metric.rawValue,
            title: metric.rawValue + (axis == .round ? " per round" : " against virtual time"),
            yTitle: metric.rawValue, lines: lines)
        let ticks = niceTicks(lo, hi)
        let decimals = ticks.count > 1 ? decimalsShowing(ticks[1] - ticks[0]) : 2
        for v in ticks {
            svg += String(
                format:
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%.1f\" "
                    + "y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%@</text>\n",
                left, y(v), width - right, y(v), left - 6, y(v) + 4, tick(v, decimals: decimals))
        }
        switch axis {
        case .round:
            let step = max(1, maxRound / 10)
            for r in stride(from: 0, through: maxRound, by: step) {
                svg += String(
                    format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%d</text>\n",
                    x(Double(r)), plotHeight - bottom + 16, r)
            }
        case .virtualTime:
            let xTicks = niceTicks(0, maxX)
            let xDecimals = xTicks.count > 1 ? decimalsShowing(xTicks[1] - xTicks[0]) : 0
            for v in xTicks {
                svg += String(
                    format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%@</text>\n",
                    x(v), plotHeight - bottom + 16, tick(v, decimals: xDecimals))
            }
        }
        svg += String(
            format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">%@</text>\n",
            (left + width - right) / 2, plotHeight - 6, axis == .round ? "round" : "virtual seconds")
        for s in series {
            let (color, dash) = style(s.line.index)
            let upper = s.high.enumerated().filter { $0.element.isFinite }.map {
                String(format: "%.1f,%.1f", x(s.at[$0.offset]), y($0.element))
            }
            let lower = s.low.enumerated().filter { $0.element.isFinite }.reversed().map {
                String(format: "%.1f,%.1f", x(s.at[$0.offset]), y($0.element))
            }
            if s.line.runs.count > 1 && !upper.isEmpty && series.count <= maxBands {
                svg +=
                    "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(color)\" "
                    + "fill-opacity=\"0.15\" stroke=\"none\"/>\n"
            }
            let points = s.mean.enumerated().filter { $0.element.isFinite }.map {
                String(format: "%.1f,%.1f", x(s.at[$0.offset]), y($0.element))
            }
            svg +=
                "<polyline points=\"\(points.joined(separator: " "))\" fill=\"none\" stroke=\"\(color)\" "
                + "stroke-width=\"1.8\"\(dash)><title>\(escape(s.line.name))</title></polyline>\n"
        }
        return svg + Frame.legend(lines) + "</svg>"
    }

    /// Whether every run of every line has the final per-client accuracies.
    static func hasClientAccuracies(_ lines: [ChartLine]) -> Bool {
        !lines.isEmpty && lines.allSatisfy { $0.runs.allSatisfy { !($0.clientAccuracies ?? []).isEmpty } }
    }

    /// The distribution over clients of the final model's accuracy on each client's own data: per
    /// variant the empirical CDF, its seeds' clients pooled (y: the fraction of clients at or
    /// below x). The worst-off clients are the left tail, which a mean hides.
    static func distributionChart(_ lines: [ChartLine]) -> String {
        let (width, plotHeight, left, right) = (Frame.width, Frame.plotHeight, Frame.left, 16.0)
        let (top, bottom) = (Frame.top, Frame.bottom)
        let samples = lines.map { line in line.runs.flatMap { $0.clientAccuracies ?? [] }.filter(\.isFinite).sorted() }
        let all = samples.flatMap { $0 }
        var lo = max(0, (all.min() ?? 0) - 0.02)
        let hi = min(1, (all.max() ?? 1) + 0.02)
        if hi - lo < 0.05 { lo = max(0, hi - 0.05) }
        func x(_ v: Double) -> Double { left + (width - left - right) * (v - lo) / (hi - lo) }
        func y(_ f: Double) -> Double { top + (plotHeight - top - bottom) * (1 - f) }
        var svg = Frame.opening(
            label: "client accuracy distribution",
            title: "accuracy on each client's own data, final model (distribution over clients)",
            yTitle: "fraction of clients ≤ x", lines: lines)
        for f in [0.0, 0.25, 0.5, 0.75, 1.0] {
            svg += String(
                format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%.1f\" "
                    + "y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%@</text>\n",
                left, y(f), width - right, y(f), left - 6, y(f) + 4, tick(f, decimals: 2))
        }
        let xTicks = niceTicks(lo, hi)
        let xDecimals = xTicks.count > 1 ? decimalsShowing(xTicks[1] - xTicks[0]) : 2
        for v in xTicks {
            svg += String(
                format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%@</text>\n", x(v),
                plotHeight - bottom + 16, tick(v, decimals: xDecimals))
        }
        svg += String(
            format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">test accuracy on the "
                + "client's own data</text>\n", (left + width - right) / 2, plotHeight - 6)
        for (line, values) in zip(lines, samples) where !values.isEmpty {
            let (color, dash) = style(line.index)
            // A step function: at each value the fraction jumps from i/n to (i+1)/n.
            var points = [String(format: "%.1f,%.1f", x(values[0]), y(0))]
            for (i, v) in values.enumerated() {
                points.append(String(format: "%.1f,%.1f", x(v), y(Double(i) / Double(values.count))))
                points.append(String(format: "%.1f,%.1f", x(v), y(Double(i + 1) / Double(values.count))))
            }
            svg +=
                "<polyline points=\"\(points.joined(separator: " "))\" fill=\"none\" stroke=\"\(color)\" "
                + "stroke-width=\"1.8\"\(dash)><title>\(escape(line.name)) (\(values.count) clients)</title>"
                + "</polyline>\n"
        }
        return svg + Frame.legend(lines) + "</svg>"
    }

    /// What the line and distribution charts share: the plot's geometry, the opening with the
    /// title and the y-axis title, and the legend under the plot.
    enum Frame {
        static let width = 760.0
        static let plotHeight = 300.0
        static let left = 64.0
        static let top = 28.0
        static let bottom = 40.0

        /// Legend columns (1–3, as the longest label allows) and the chart's whole height.
        static func layout(_ lines: [ChartLine]) -> (columns: Int, height: Double) {
            let longest = Double(lines.map(\.label.count).max() ?? 0)
            let columns = max(1, min(3, Int((width - left) / (longest * 6.2 + 36))))
            let rows = (lines.count + columns - 1) / columns
            return (columns, plotHeight + Double(rows) * 16 + 6)
        }

        /// The `<svg>` element (its viewBox scales with the page, width 100 %, keeping the
        /// proportions), the bold title and the rotated y-axis title.
        static func opening(label: String, title: String, yTitle: String, lines: [ChartLine]) -> String {
            let middle = (top + plotHeight - bottom) / 2
            return
                "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(layout(lines).height))\" "
                + "width=\"100%\" preserveAspectRatio=\"xMinYMin meet\" role=\"img\" "
                + "aria-label=\"\(escape(label))\">\n"
                + "<text x=\"\(Int(left))\" y=\"18\" font-size=\"14\" font-weight=\"bold\">\(escape(title))</text>\n"
                + String(
                    format: "<text x=\"14\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
                        + "transform=\"rotate(-90 14 %.1f)\">%@</text>\n", middle, middle, escape(yTitle))
        }

        /// One swatch and label per line, in rows of `layout(lines).columns`.
        static func legend(_ lines: [ChartLine]) -> String {
            let columns = layout(lines).columns
            var svg = ""
            for (k, line) in lines.enumerated() {
                let lx = left + Double(k % columns) * (width - left) / Double(columns)
                let ly = plotHeight + 10 + Double(k / columns) * 16
                let (color, dash) = style(line.index)
                svg += String(
                    format:
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"3\"%@/>",
                    lx, ly, lx + 18, ly, color, dash)
                svg += String(
                    format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">%@</text>\n", lx + 24, ly + 4,
                    escape(line.label))
            }
            return svg
        }
    }

    /// Round tick values (steps of 1, 2 or 5 × 10ⁿ) inside [lo, hi].
    static func niceTicks(_ lo: Double, _ hi: Double) -> [Double] {
        let raw = (hi - lo) / 4
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        var step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        // At least four labelled ticks: a coarse step over a short range left one or two.
        while ((hi / step).rounded(.down) - (lo / step).rounded(.up)) + 1 < 4 { step /= 2 }
        var ticks: [Double] = []
        var v = (lo / step).rounded(.up) * step
        while v <= hi + step * 1e-9 && ticks.count < 12 {
            ticks.append(abs(v) < step * 1e-9 ? 0 : v)
            v += step
        }
        return ticks
    }

    /// The fewest decimals that write a tick step exactly (0.25 needs 2, 0.5 needs 1).
    static func decimalsShowing(_ step: Double) -> Int {
        for d in 0...6 {
            let scaled = step * pow(10, Double(d))
            if abs(scaled - scaled.rounded()) < 1e-6 * max(1, scaled) { return d }
        }
        return 6
    }

    static func tick(_ v: Double, decimals: Int) -> String {
        let a = abs(v)
        if a >= 1e5 || decimals > 4 { return String(format: "%.2e", v) }
        return String(format: "%.\(decimals)f", v)
    }

    static func table(
        _ rows: [VariantSummary], target: Double?, classification: Bool, window: Int, baseline: String?,
        overrides: [[String]]? = nil
    ) -> String {
        let validated = rows.contains { $0.selectedRound != nil }
        var head = ["#", "variant", "seeds"]
        head +=
            classification
            ? ["final test acc", "test acc, last \(window) rounds"]
            : ["final test RMSE", "test loss, last \(window) rounds"]
        if validated {
            head.append(classification ? "test acc at best-validation round" : "test loss at best-validation round")
        }
        if classification {
            head.append("best test acc (selected on test)")
            head.append("rounds to \(target.map { String(format: "%.2f", $0) } ?? "target") acc (median; reached)")
        }
        let timed = rows.contains { $0.finalVirtualTime != nil }
        if timed {
            if classification && target != nil { head.append("virtual time to target (median)") }
            head.append("virtual time of the run")
        }
        head += ["final test loss", "final ‖w‖", "Δ vs \(baseline ?? "baseline") (95 % CI)", "p (paired t; sign)"]
        var html = "<table><thead><tr>" + head.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for (i, r) in rows.enumerated() {
            // The variant's full settings under its name: the legends show only the number and a short name.
            let settings = (overrides.map { i < $0.count ? $0[i] : [] } ?? []).map { "<code>\(escape($0))</code>" }
            let name = escape(r.variant) + (settings.isEmpty ? "" : "<br>" + settings.joined(separator: " "))
            var cells = [String(i + 1), name, String(r.seeds)]
            cells +=
                classification ? [r.finalAccuracy.text, r.windowAccuracy.text] : [r.finalRMSE.text, r.windowLoss.text]
            if validated {
                let value = classification ? r.selectedTestAccuracy : r.selectedTestLoss
                cells.append(
                    (value?.text ?? "—") + (r.selectedRound.map { String(format: " (round %.1f)", $0.mean) } ?? ""))
            }
            if classification {
                cells.append(r.bestTestAccuracy.text)
                cells.append(target == nil ? "—" : "\(r.roundsToTargetMedian); \(r.reachedText)")
            }
            if timed {
                if classification && target != nil { cells.append(r.virtualTimeToTargetMedian) }
                cells.append(r.finalVirtualTimeText)
            }
            cells += [r.finalLoss.text, r.finalWeightNorm.text]
            cells += pairedCells(r, baseline: baseline, notSignificant: " <b>n.s.</b>")
            html += "<tr>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>\n"
        }
        return html + "</tbody></table>"
    }

    /// The two paired-test cells of a row: Δ with its interval (marked when not significant) and
    /// the p-values; "(baseline)" on the baseline's own row.
    static func pairedCells(_ r: VariantSummary, baseline: String?, notSignificant: String) -> [String] {
        guard let p = r.versusBaseline else { return [r.variant == baseline ? "(baseline)" : "—", ""] }
        let interval =
            p.difference.halfWidth.isNaN
            ? String(format: "%+.4f", p.difference.mean)
            : String(format: "%+.4f [%+.4f, %+.4f]", p.difference.mean, p.difference.low, p.difference.high)
        return [
            interval + (p.significant || p.pairedTP.isNaN ? "" : notSignificant),
            p.pairedTP.isNaN ? "—" : String(format: "%.3g; %.3g", p.pairedTP, p.signTestP),
        ]
    }

    /// `summary.md`: the summary as a Markdown table (for docs), every number with its interval.
    static func markdown(
        _ rows: [VariantSummary], seeds: Int, target: Double?, window: Int, baseline: String?
    ) -> String {
        let classification = rows.contains { $0.classification }
        let validated = rows.contains { $0.selectedRound != nil }
        let metric = classification ? "test acc" : "test loss"
        var head = ["variant", "\(metric), last \(window) rounds"]
        if validated { head.append("\(metric) at best-validation round") }
        if classification && target != nil {
            head.append("rounds to \(String(format: "%.2f", target!)) (median; reached)")
        }
        let timed = rows.contains { $0.finalVirtualTime != nil }
        if timed {
            if classification && target != nil { head.append("virtual time to \(String(format: "%.2f", target!))") }
            head.append("virtual time of the run")
        }
        head.append("final ‖w‖")
        let paired = seeds >= 2  // one seed: no interval and no test
        if paired { head += ["Δ vs baseline [95 % CI]", "p (paired t; sign)"] }
        var text = "| " + head.joined(separator: " | ") + " |\n|" + head.map { _ in "---|" }.joined() + "\n"
        for r in rows {
            var cells = [r.variant.replacingOccurrences(of: "|", with: "\\|")]
            cells.append((classification ? r.windowAccuracy : r.windowLoss).text)
            if validated {
                cells.append(((classification ? r.selectedTestAccuracy : r.selectedTestLoss)?.text ?? "—"))
            }
            if classification && target != nil { cells.append("\(r.roundsToTargetMedian); \(r.reachedText)") }
            if timed {
                if classification && target != nil { cells.append(r.virtualTimeToTargetMedian) }
                cells.append(r.finalVirtualTimeText)
            }
            cells.append(r.finalWeightNorm.text)
            if paired { cells += pairedCells(r, baseline: baseline, notSignificant: " n.s.") }
            text += "| " + cells.joined(separator: " | ") + " |\n"
        }
        text +=
            paired
            ? "\n\(seeds) seeds; values are means ± the 95 % Student-t half-width across seeds; Δ is paired by seed "
                + "on the last-\(window)-round mean; n.s.: the paired t-test does not reject Δ = 0 at 5 %.\n"
            : "\nOne seed: a deterministic experiment, no intervals.\n"
        return text
    }

    static func page(
        title: String, note: String, charts: [String], table: String, sections: [String] = [], seeds: Int = 2
    ) -> String {
        let explanation =
            seeds < 2
            ? "One seed: each line is that run; there are no intervals and no paired tests."
            : "Lines are means across seeds; shaded bands (up to \(maxBands) lines) span the lowest to highest "
                + "seed. Values are means across seeds ± the half-width of their 95 % Student-t confidence "
                + "interval. “Last k rounds” averages each run's final k rounds; the best-validation round is "
                + "chosen on the validation split (never the test set); “best test acc” is chosen on the test set "
                + "and is optimistic. Rounds to target are medians over every seed, runs that never reached it "
                + "counted as censored (“&gt; R” when half or more did not). Δ is each variant minus the baseline, "
                + "seed by seed, on the last-k mean (test accuracy; test loss for regression); <b>n.s.</b> marks a "
                + "difference the paired t-test does not separate from zero at the 5 % level."
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>
            body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
            table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
            td:first-child,th:first-child,td:nth-child(2),th:nth-child(2){text-align:left}figure{margin:16px 0}
            td code{font-size:10px;color:#555;white-space:normal;overflow-wrap:anywhere}td:nth-child(2){min-width:16em}
            .maps{display:flex;flex-wrap:wrap;gap:4px 12px}.maps figure{margin:4px 0}
            .legend{font-size:12px;display:flex;flex-wrap:wrap;gap:4px 14px;margin-left:64px}
            .legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
            </style></head><body>
            <h1>\(escape(title))</h1>
            <p>\(escape(note)) \(explanation)</p>
            <h2>Summary</h2>
            \(table)
            \(sections.joined(separator: "\n"))
            <h2>Charts</h2>
            \(charts.joined(separator: "\n"))
            <p style="font-size:12px;color:#666">Generated by FedSim (fedsim report) from the run directories' \
            rounds.jsonl.</p>
            </body></html>

            """
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
