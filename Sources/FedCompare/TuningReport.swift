import FedCoordinator
import Foundation

/// A tuned comparison read back from its run directories: every trial's validation score, each
/// variant's best point, `tuning.csv`, and one heat map per variant over the space (as the
/// AdamW paper's lr × wd figures: whether the best region is a diagonal — coupled — or a
/// rectangle — decoupled — is what the picture is for).
struct TuningResults {
    struct TrialResult {
        var trial: CompareSpec.Trial
        var runs: [Int: RunMetrics]
        /// Per seed, the mean validation metric over the run's last `window` rounds; across seeds.
        var score: Interval
        /// The same window's test metric (accuracy, or loss for regression), reported beside it.
        var test: Interval
    }

    /// The shared space (variants without one of their own use it) and the variants' own.
    let tuning: CompareSpec.Tuning
    let variantTunings: [String: CompareSpec.Tuning]
    let results: [TrialResult]
    /// The best finished trial of each variant (by name): the highest score (lowest for a loss),
    /// the earliest trial on ties.
    let best: [String: TrialResult]
    let variantOrder: [String]

    func tuning(of variant: String) -> CompareSpec.Tuning { variantTunings[variant] ?? tuning }

    /// Points per variant ("7") or, when variants have spaces of their own, the trials in all ("12 trials").
    var pointsText: String {
        variantTunings.isEmpty ? "\(tuning.points.count) tuned point(s)" : "\(results.count) tuned trials"
    }

    /// Every axis key, in order of first appearance over the variants' spaces.
    var allKeys: [String] {
        var keys: [String] = []
        for variant in variantOrder {
            for axis in tuning(of: variant).axes where !keys.contains(axis.key) { keys.append(axis.key) }
        }
        return keys
    }

    /// A trial's value on axis `key` ("" when its space has no such axis).
    func value(_ r: TrialResult, _ key: String) -> String {
        let axes = tuning(of: r.trial.variant).axes
        guard let a = axes.firstIndex(where: { $0.key == key }) else { return "" }
        return axes[a].values[r.trial.coordinates[a]]
    }

    init(
        root: URL, tuning: CompareSpec.Tuning, variantTunings: [String: CompareSpec.Tuning]?,
        trials: [CompareSpec.Trial], seeds: [Int], window: Int, missing: inout [String]
    ) throws {
        self.tuning = tuning
        self.variantTunings = variantTunings ?? [:]
        let accuracy = tuning.higherIsBetter
        var results: [TrialResult] = []
        for trial in trials {
            let runs = try Report.finishedRuns(root, trial.unit, seeds: seeds, missing: &missing)
            func windowMean(_ run: RunMetrics, _ value: (RoundRecord) -> Double?) -> Double {
                run.windowMean(window, value) ?? .nan
            }
            let ordered = runs.keys.sorted().map { runs[$0]! }
            results.append(
                TrialResult(
                    trial: trial, runs: runs,
                    score: Interval(
                        ordered.map { windowMean($0, { accuracy ? $0.validationAccuracy : $0.validationLoss }) }),
                    test: Interval(ordered.map { windowMean($0, { accuracy ? $0.testAccuracy : $0.testLoss }) })))
        }
        var best: [String: TrialResult] = [:]
        var order: [String] = []
        for r in results {
            if !order.contains(r.trial.variant) { order.append(r.trial.variant) }
            guard r.score.count > 0, r.score.mean.isFinite else { continue }
            if let current = best[r.trial.variant] {
                let better = accuracy ? r.score.mean > current.score.mean : r.score.mean < current.score.mean
                if better { best[r.trial.variant] = r }
            } else {
                best[r.trial.variant] = r
            }
        }
        self.results = results
        self.best = best
        variantOrder = order
    }

    /// `tuning.csv`: every trial with its coordinates, seeds finished, score and test window.
    var csv: String {
        var text =
            "variant,trial," + allKeys.joined(separator: ",")
            + ",n_seeds,score_mean,score_ci95,test_window_mean,test_window_ci95,best\n"
        func f(_ x: Double) -> String { x.isNaN ? "" : String(format: "%.6g", x) }
        func quoted(_ s: String) -> String {
            s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        for r in results {
            let values = allKeys.map { quoted(value(r, $0)) }
            let isBest = best[r.trial.variant]?.trial.unit.id == r.trial.unit.id
            text +=
                ([quoted(r.trial.variant), quoted(r.trial.unit.name)] + values + [
                    String(r.score.count), f(r.score.mean), f(r.score.halfWidth), f(r.test.mean), f(r.test.halfWidth),
                    isBest ? "true" : "false",
                ]).joined(separator: ",") + "\n"
        }
        return text
    }

    /// Variants whose chosen point sits at an end of an axis of three or more values: the best
    /// may lie outside the space, and the comparison is only as fair as the space is wide. An
    /// end at 0 is not flagged (a decay or momentum of 0 has nothing beyond it).
    var edgeWarnings: [String] {
        variantOrder.compactMap { variant in
            guard let b = best[variant] else { return nil }
            let edges = zip(tuning(of: variant).axes, b.trial.coordinates).filter { axis, i in
                axis.values.count >= 3 && (i == 0 || i == axis.values.count - 1) && Double(axis.values[i]) != 0
            }
            guard !edges.isEmpty else { return nil }
            let place = edges.map { "\($0.0.key) = \($0.0.values[$0.1])" }.joined(separator: ", ")
            return "\(variant)'s best point is at the edge of the space (\(place)): the best may lie beyond it; "
                + "widen the space."
        }
    }

    var caption: String {
        let metric = tuning.higherIsBetter ? "validation accuracy" : "validation loss"
        var text =
            "Each cell is one point of the space: the mean across seeds of each run's last-rounds mean \(metric). "
            + "All maps share one color scale; the outlined cell is the variant's best point, the one the summary "
            + "reports (its test numbers are reported, never used to choose)."
        if variantOrder.contains(where: { tuning(of: $0).axes.count > 2 }) {
            text += " Where a space has more than two axes, each cell shows the best over the other axes' values."
        }
        if tuning.rule == .random { text += " Random search: untried cells are grey." }
        for warning in edgeWarnings { text += " Warning: " + warning }
        return text
    }

    /// The HTML table of every trial.
    var table: String {
        var html =
            "<table><thead><tr><th>variant</th>" + allKeys.map { "<th>\(Report.escape($0))</th>" }.joined()
            + "<th>seeds</th><th>\(tuning.higherIsBetter ? "validation acc" : "validation loss")</th>"
            + "<th>\(tuning.higherIsBetter ? "test acc" : "test loss")</th></tr></thead><tbody>\n"
        for r in results {
            let isBest = best[r.trial.variant]?.trial.unit.id == r.trial.unit.id
            let cells =
                [Report.escape(r.trial.variant)]
                + allKeys.map { Report.escape(value(r, $0)) }
                + [String(r.score.count), (isBest ? "<b>" : "") + r.score.text + (isBest ? "</b>" : ""), r.test.text]
            html += "<tr>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>\n"
        }
        return html + "</tbody></table>"
    }

    /// One SVG per variant: x = the first axis, y = the second (one row for a one-axis space).
    /// Every cell carries `data-x`, `data-y` and `data-value` so its number can be read back.
    func heatMaps() -> [(variant: String, svg: String)] {
        let scores = results.map(\.score.mean).filter(\.isFinite)
        let lo = scores.min() ?? 0
        let hi = scores.max() ?? 1
        return variantOrder.map { variant in
            let axes = tuning(of: variant).axes
            let xAxis = axes[0]
            let yAxis = axes.count > 1 ? axes[1] : nil
            var cells: [[Double]] = Array(
                repeating: Array(repeating: .nan, count: xAxis.values.count), count: yAxis?.values.count ?? 1)
            var intervals: [[Interval?]] = cells.map { $0.map { _ in nil } }
            var bestCell: (Int, Int)?
            for r in results where r.trial.variant == variant && r.score.mean.isFinite {
                let x = r.trial.coordinates[0]
                let y = yAxis == nil ? 0 : r.trial.coordinates[1]
                let current = cells[y][x]
                let better = tuning.higherIsBetter ? r.score.mean > current : r.score.mean < current
                if current.isNaN || better {
                    cells[y][x] = r.score.mean
                    intervals[y][x] = r.score
                }
                if best[variant]?.trial.unit.id == r.trial.unit.id { bestCell = (x, y) }
            }
            return (variant, svg(variant, cells, intervals, xAxis, yAxis, lo, hi, bestCell))
        }
    }

    private func svg(
        _ variant: String, _ cells: [[Double]], _ intervals: [[Interval?]], _ xAxis: CompareSpec.Tuning.Axis,
        _ yAxis: CompareSpec.Tuning.Axis?,
        _ lo: Double, _ hi: Double, _ bestCell: (Int, Int)?
    ) -> String {
        let cell = 58.0
        let left = 96.0
        let top = 34.0
        let columns = Double(xAxis.values.count)
        let rows = Double(cells.count)
        // Wide enough for the title (bold 14 px: about 8 px a character).
        let width = max(left + columns * cell + 16, left + Double(variant.count) * 8 + 16)
        let labels = CompareSpec.gridLabels([xAxis.key] + (yAxis.map { [$0.key] } ?? []))
        let height = top + rows * cell + 44
        var s =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" "
            + "width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" "
            + "aria-label=\"\(Report.escape(variant)) heat map\">\n"
        s +=
            "<text x=\"\(Int(left))\" y=\"18\" font-size=\"14\" font-weight=\"bold\">\(Report.escape(variant))</text>\n"
        for (y, row) in cells.enumerated() {
            // The first row of values at the bottom, as on a plot's y axis.
            let py = top + (rows - 1 - Double(y)) * cell
            if let yAxis {
                s += String(
                    format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%@</text>\n", left - 6,
                    py + cell / 2 + 4, Report.escape(short(yAxis.values[y])))
            }
            for (x, value) in row.enumerated() {
                let px = left + Double(x) * cell
                // Over several (tuning) seeds a cell carries its 95 % interval: in its tooltip, and
                // as a second line under the mean.
                let interval = intervals[y][x]
                let spread = interval.map { $0.halfWidth.isFinite ? String(format: "±%.3f", $0.halfWidth) : nil } ?? nil
                let tooltip =
                    value.isNaN
                    ? "not run"
                    : (interval.map { "\($0.text) (\($0.count) seed\($0.count == 1 ? "" : "s"))" }
                        ?? String(format: "%.4f", value))
                let fill = value.isNaN ? "#e5e5e5" : color((value - lo) / max(hi - lo, 1e-12))
                let dark = value.isNaN ? false : (value - lo) / max(hi - lo, 1e-12) < 0.6
                s += String(
                    format:
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\" data-x=\"%@\" "
                        + "data-y=\"%@\" data-value=\"%@\"><title>%@</title></rect>\n",
                    px, py, cell, cell, fill, Report.escape(xAxis.values[x]),
                    Report.escape(yAxis?.values[y] ?? ""), value.isNaN ? "" : String(format: "%.6g", value),
                    Report.escape(tooltip))
                if !value.isNaN {
                    s += String(
                        format:
                            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\" "
                            + "fill=\"%@\">%@</text>\n",
                        px + cell / 2, py + cell / 2 + (spread == nil ? 4 : -1), dark ? "#fff" : "#000",
                        String(format: abs(value) < 10 ? "%.3f" : "%.3g", value))
                    if let spread {
                        s += String(
                            format:
                                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" text-anchor=\"middle\" "
                                + "fill=\"%@\">%@</text>\n",
                            px + cell / 2, py + cell / 2 + 11, dark ? "#fff" : "#000", spread)
                    }
                }
            }
        }
        if let (x, y) = bestCell {
            s += String(
                format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#000\" "
                    + "stroke-width=\"3\"/>\n",
                left + Double(x) * cell + 1.5, top + (rows - 1 - Double(y)) * cell + 1.5, cell - 3, cell - 3)
        }
        for (x, label) in xAxis.values.enumerated() {
            s += String(
                format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%@</text>\n",
                left + Double(x) * cell + cell / 2, top + rows * cell + 14, Report.escape(short(label)))
        }
        s += String(
            format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">%@</text>\n",
            left + columns * cell / 2, top + rows * cell + 34, Report.escape(labels[0]))
        if yAxis != nil {
            s += String(
                format:
                    "<text x=\"14\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
                    + "transform=\"rotate(-90 14 %.1f)\">%@</text>\n",
                top + rows * cell / 2, top + rows * cell / 2, Report.escape(labels[1]))
        }
        return s + "</svg>"
    }

    /// An axis label that fits a cell: numbers to 3 significant digits (the cell's `data-x` keeps the exact value).
    private func short(_ label: String) -> String {
        guard let v = Double(label), label.count > 7 else { return label }
        return String(format: "%.3g", v)
    }

    /// A perceptually ordered ramp (viridis' endpoints and midpoints), t in [0, 1].
    private func color(_ t: Double) -> String {
        let stops: [(Double, Double, Double)] = [
            (68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37),
        ]
        let u = min(max(t, 0), 1) * Double(stops.count - 1)
        let i = min(Int(u), stops.count - 2)
        let f = u - Double(i)
        let (a, b) = (stops[i], stops[i + 1])
        return String(
            format: "#%02x%02x%02x", Int(a.0 + (b.0 - a.0) * f), Int(a.1 + (b.1 - a.1) * f), Int(a.2 + (b.2 - a.2) * f))
    }
}
