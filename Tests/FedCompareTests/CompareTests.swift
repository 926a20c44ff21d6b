import FedCompare
import FedCoordinator
import FedTestSupport
import Foundation
import XCTest

final class CompareTests: XCTestCase {
    var dir: URL!
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("fedsim-compare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try """
        name: tiny
        seed: 1
        rounds: 3
        data: {source: blobs, count: 300, features: 4, classes: 3}
        model: {kind: softmax}
        clients: {count: 4, optimizer: {name: adamw, lr: 0.01}}
        """.write(to: dir.appendingPathComponent("base.yaml"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func write(_ name: String, _ text: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    var binary: URL { Fedsim.binary }

    /// The `weights_hash` column of a rounds.csv.
    func weightsHashes(_ csv: String) -> [String] {
        let lines = csv.split(separator: "\n")
        guard let column = lines.first?.split(separator: ",").firstIndex(of: "weights_hash") else { return [] }
        return lines.dropFirst().map { String($0.split(separator: ",", omittingEmptySubsequences: false)[column]) }
    }

    func fedsim(_ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self))
    }

    func testGridAndVariantSpecsExpand() throws {
        let grid = try CompareSpec.load(
            file: write(
                "g.yaml",
                """
                base: base.yaml
                seeds: [1, 2]
                set: {model.kind: mlp}
                grid:
                  clients.optimizer.name: [adamw, adam_l2]
                  clients.optimizer.weight_decay: [0, 0.1]
                  model.hidden: [[8], [4, 4]]
                """))
        XCTAssertEqual(grid.name, "g")
        XCTAssertEqual(grid.variants.count, 8)
        XCTAssertEqual(grid.variants[0].name, "optimizer=adamw weight_decay=0 hidden=[8]")
        XCTAssertEqual(
            CompareSpec.gridLabels(["clients.optimizer.lr", "server.lr", "clients.optimizer.name", "partition.alpha"]),
            ["optimizer.lr", "server.lr", "optimizer", "alpha"], "no two keys share a label")
        XCTAssertEqual(
            grid.variants[7].overrides,
            [
                "model.kind=mlp", "clients.optimizer.name=adam_l2", "clients.optimizer.weight_decay=0.1",
                "model.hidden=[4, 4]",
            ])
        XCTAssertEqual(Set(grid.variants.map(\.id)).count, 8)
        let list = try CompareSpec.load(
            file: write(
                "l.yaml",
                """
                name: pair
                base: base.yaml
                variants:
                  - {name: decoupled, set: {clients.optimizer.name: adamw}}
                  - {name: coupled, set: {clients.optimizer.name: adam_l2, clients.state: reset}}
                """))
        XCTAssertEqual(list.seeds, [1], "the base topology's seed")
        XCTAssertEqual(list.variants.map(\.name), ["decoupled", "coupled"])
        XCTAssertEqual(list.variants[1].overrides, ["clients.optimizer.name=adam_l2", "clients.state=reset"])
    }

    /// Bad specs get one clear error naming the problem, and nothing is written.
    func testBadSpecsAreRejected() throws {
        let cases: [(String, String)] = [
            ("base: nowhere.yaml\ngrid: {seed: [1]}\n", "cannot read"),
            ("base: base.yaml\n", "missing 'variants'"),
            ("base: base.yaml\ngrid: {a: [1]}\nvariants: []\n", "give variants or grid, not both"),
            (
                "base: base.yaml\ngrid: {clients.optimizer.beta2: [0.9, 1.5]}\n",
                "clients.optimizer.beta2: 1.5 is outside [0, 1)"
            ),
            ("base: base.yaml\ngrid: {clients.optimizer.name: []}\n", "expected a non-empty list"),
            ("base: base.yaml\nvariants: [{name: a}, {name: a}]\n", "variant names must be unique"),
            ("base: base.yaml\nvariants: [{set: {rounds: 2}}]\n", "missing required key 'name'"),
            ("base: base.yaml\nseeds: [1, 1]\nvariants: [{name: a}]\n", "each once"),
            ("base: base.yaml\nseedz: [1]\nvariants: [{name: a}]\n", "seedz: unknown key (did you mean 'seeds'?)"),
            ("base: base.yaml\ntarget_accuracy: 2\nvariants: [{name: a}]\n", "target_accuracy: 2 is outside [0, 1]"),
            // A name cannot leave runs/, and a seed outside 'seeds:' would be ignored by the runner.
            ("name: ../../../evil\nbase: base.yaml\nvariants: [{name: a}]\n", "may only hold letters"),
            ("base: base.yaml\ngrid: {seed: [1, 2]}\n", "list the seeds there instead"),
            ("base: base.yaml\nset: {seed: 3}\nvariants: [{name: a}]\n", "list the seeds there instead"),
            ("base: base.yaml\nvariants: [{name: a, set: {seed: 3}}]\n", "list the seeds there instead"),
            // 30 × 30 × 30 × 30 = 810,000 variants once wrote a 271 MB compare.json: refused before any is built.
            (
                "base: base.yaml\ngrid: {rounds: [\((1...30).map(String.init).joined(separator: ","))], "
                    + "clients.count: [\((1...30).map(String.init).joined(separator: ","))], "
                    + "clients.optimizer.lr: [\((1...30).map { "0.\($0)" }.joined(separator: ","))], "
                    + "clients.optimizer.weight_decay: [\((1...30).map { "0.0\($0)" }.joined(separator: ","))]}\n",
                "30 × 30 × 30 × 30 values × 1 seed(s) is 810000 runs; a comparison holds at most 10000"
            ),
        ]
        for (i, (text, expected)) in cases.enumerated() {
            let spec = try write("bad\(i).yaml", text)
            let out = dir.appendingPathComponent("out\(i)")
            let (status, output) = try fedsim(["compare", spec, "--out", out.path])
            XCTAssertEqual(status, 2, "\(expected): \(output)")
            XCTAssertTrue(output.contains(expected), "expected '\(expected)' in: \(output)")
            XCTAssertEqual(output.split(separator: "\n").filter { $0.hasPrefix("error:") }.count, 1)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "nothing written")
        }
    }

    /// Student's t and the sign test against SciPy 1.17 (`stats.t.ppf(0.975, df)`,
    /// `2*stats.t.sf(t, df)`, `stats.binomtest(k, n).pvalue`).
    func testStatisticsMatchSciPy() {
        let quantiles: [(Int, Double)] = [
            (1, 12.706204736174694), (2, 4.302652729749462), (4, 2.7764451051977934), (9, 2.262157162798205),
            (29, 2.045229642132703), (100, 1.9839715185235518),
        ]
        for (df, q) in quantiles {
            XCTAssertEqual(Statistics.tQuantile(twoSidedAlpha: 0.05, df: df), q, accuracy: 1e-9 * q, "df \(df)")
        }
        let tails: [(Double, Int, Double)] = [
            (2.0, 10, 0.07338803477074037), (0.5, 3, 0.651447964848151), (5.0, 4, 0.007490433881274525),
            (1.0, 1, 0.5),
        ]
        for (t, df, p) in tails { XCTAssertEqual(Statistics.tTwoSidedP(t, df: df), p, accuracy: 1e-12, "t \(t)") }
        XCTAssertEqual(Statistics.signTestP(positive: 1, negative: 7), 0.0703125, accuracy: 1e-12)
        XCTAssertEqual(Statistics.signTestP(positive: 5, negative: 0), 0.0625, accuracy: 1e-12)
        XCTAssertEqual(Statistics.signTestP(positive: 3, negative: 3), 1)
    }

    func testSummaryStatistics() {
        let s = Interval([0.8, 0.9, 1.0])
        XCTAssertEqual(s.mean, 0.9, accuracy: 1e-12)
        XCTAssertEqual(s.std, 0.1, accuracy: 1e-12, "sample standard deviation")
        XCTAssertEqual(s.halfWidth, 4.302652729749462 * 0.1 / 3.0.squareRoot(), accuracy: 1e-9)
        XCTAssertTrue(Interval([0.5]).halfWidth.isNaN, "no interval from one seed")
        XCTAssertEqual(Interval([1, .nan, 3]).mean, 2, "non-finite values are left out")
        func record(_ r: Int, _ acc: Double, _ loss: Double, _ norm: Double, validation: Double? = nil) -> RoundRecord {
            var record = RoundRecord(
                round: r, testLoss: loss, testAccuracy: acc, testRMSE: nil, testR2: nil, trainLoss: nil,
                weightNorm: norm,
                updateNorm: 0, participants: [], samples: 0, payloadBytes: 0, seconds: 0, weightsHash: "")
            record.validationAccuracy = validation
            return record
        }
        let a = RunMetrics(rounds: [
            record(0, 0.1, 2, 1, validation: 0.99), record(1, 0.7, 1, 2, validation: 0.6),
            record(2, 0.95, 0.5, 3, validation: 0.8), record(3, 0.9, 0.6, 4, validation: 0.8),
        ])
        let b = RunMetrics(rounds: [
            record(0, 0.1, 2, 1, validation: 0.1), record(1, 0.5, 1.5, 2, validation: 0.7),
            record(2, 0.6, 1.2, 3, validation: 0.5), record(3, 0.8, 0.9, 5, validation: 0.65),
        ])
        let summary = VariantSummary(variant: "x", runs: [1: a, 2: b], target: 0.9, finalWindow: 2)
        XCTAssertEqual(summary.finalAccuracy.mean, 0.85, accuracy: 1e-12)
        XCTAssertEqual(summary.windowAccuracy.mean, (0.925 + 0.7) / 2, accuracy: 1e-12)
        XCTAssertEqual(summary.bestTestAccuracy.mean, 0.875, accuracy: 1e-12)
        // Selected on validation, never round 0, the earliest on ties: a → round 2, b → round 1.
        XCTAssertEqual(summary.selectedRound?.mean, 1.5)
        XCTAssertEqual(summary.selectedTestAccuracy!.mean, (0.95 + 0.5) / 2, accuracy: 1e-12)
        XCTAssertEqual(summary.bestValidation!.mean, 0.75, accuracy: 1e-12)
        XCTAssertEqual(summary.finalWeightNorm.mean, 4.5, accuracy: 1e-12)
        XCTAssertEqual(summary.roundsToTarget, [2, nil])
        XCTAssertEqual(summary.roundsToTargetMedian, "> 3", "half never reached it: censored, not dropped")
        XCTAssertEqual(summary.reachedText, "1/2")
        let three = VariantSummary(variant: "y", runs: [1: a, 2: b, 3: a], target: 0.9, finalWindow: 2)
        XCTAssertEqual(three.roundsToTargetMedian, "2")
        XCTAssertEqual(summary.primaryBySeed, [1: 0.925, 2: 0.7])

        // Paired against a baseline, by hand: differences [0.1, 0.3, 0.2] have mean 0.2, s = 0.1,
        // t = 0.2/(0.1/√3) = 3.4641 on 2 df: p = 0.07418 (SciPy); sign test 3 of 3: p = 0.25.
        let paired = PairedComparison(variant: [1: 0.6, 2: 0.9, 3: 0.7, 4: 0.5], baseline: [1: 0.5, 2: 0.6, 3: 0.5])
        XCTAssertEqual(paired.seeds, 3, "only seeds both ran are paired")
        XCTAssertEqual(paired.difference.mean, 0.2, accuracy: 1e-12)
        XCTAssertEqual(paired.difference.halfWidth, 4.302652729749462 * 0.1 / 3.0.squareRoot(), accuracy: 1e-9)
        XCTAssertEqual(paired.pairedTP, 0.07417990022744853, accuracy: 1e-9)
        XCTAssertEqual(paired.signTestP, 0.25, accuracy: 1e-12)
        XCTAssertFalse(paired.significant)
    }

    /// End to end: runs, summary.csv with one row per variant, a report with a chart and a
    /// table row per variant; a re-run resumes without redoing finished runs; the numbers
    /// reproduce bit for bit.
    func testCompareRunsSummarizesReportsAndResumes() throws {
        let spec = try write(
            "c.yaml",
            """
            name: c
            base: base.yaml
            seeds: [1, 2]
            target_accuracy: 0.5
            grid:
              clients.optimizer.name: [adamw, adam_l2]
              clients.optimizer.weight_decay: [0.1]
            """)
        let out = dir.appendingPathComponent("out")
        let (status, output) = try fedsim(["compare", spec, "--out", out.path])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("[4/4]"), output)
        let csv = try String(contentsOf: out.appendingPathComponent("summary.csv"), encoding: .utf8).split(
            separator: "\n")
        XCTAssertEqual(csv.count, 3)
        XCTAssertTrue(csv[1].hasPrefix("optimizer=adamw weight_decay=0.1,2,"))
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 3, "accuracy, loss and ‖w‖ charts")
        XCTAssertEqual(html.components(separatedBy: "<polyline").count - 1, 6, "a line per variant per chart")
        XCTAssertTrue(html.contains("<td>optimizer=adam_l2 weight_decay=0.1<br><code>"))
        XCTAssertFalse(html.contains("<script"), "self-contained, no scripts")
        XCTAssertFalse(
            html.contains("http://")
                && html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http://"))

        // Interrupted halfway: a run without summary.json is redone; finished ones are not.
        let run = out.appendingPathComponent("runs/v02-optimizer_adam_l2_weight_decay_0.1/seed-2")
        let hash = try String(contentsOf: run.appendingPathComponent("rounds.csv"), encoding: .utf8)
        try FileManager.default.removeItem(at: run.appendingPathComponent("summary.json"))
        let (again, output2) = try fedsim(["compare", spec, "--out", out.path])
        XCTAssertEqual(again, 0, output2)
        XCTAssertTrue(output2.contains("3 of 4 runs already finished; running the other 1"), output2)
        let hash2 = try String(contentsOf: run.appendingPathComponent("rounds.csv"), encoding: .utf8)
        XCTAssertEqual(weightsHashes(hash), weightsHashes(hash2), "the redone run reproduces its weight hashes")

        // fedsim report regenerates from disk.
        try FileManager.default.removeItem(at: out.appendingPathComponent("report.html"))
        let (reported, output3) = try fedsim(["report", out.path])
        XCTAssertEqual(reported, 0, output3)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("report.html").path))
        let (single, output4) = try fedsim(["report", run.path])
        XCTAssertEqual(single, 0, output4)
        XCTAssertTrue(
            try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8).contains("<svg"))

        // A different spec into the same directory is refused.
        let other = try write("d.yaml", "name: c\nbase: base.yaml\nvariants: [{name: only}]\n")
        let (refused, output5) = try fedsim(["compare", other, "--out", out.path])
        XCTAssertEqual(refused, 2, output5)
        XCTAssertTrue(output5.contains("holds a different comparison"))
    }

    /// A tuned comparison end to end: every variant at every point, resumed after an interrupt;
    /// the heat maps' cells, each variant's chosen point and the summary's intervals and paired
    /// test equal what this test computes on its own from the runs' rounds.jsonl.
    func testTunedCompareSelectsOnValidationAndItsReportMatchesTheRuns() throws {
        let spec = try write(
            "t.yaml",
            """
            name: t
            base: base.yaml
            seeds: [1, 2, 3]
            final_window: 2
            baseline: adam_l2
            set: {data.validation_fraction: 0.2, rounds: 4}
            variants:
              - {name: adamw, set: {clients.optimizer.name: adamw}}
              - {name: adam_l2, set: {clients.optimizer.name: adam_l2}}
            tune:
              space:
                clients.optimizer.lr: log[0.001, 0.1, 3]
                clients.optimizer.weight_decay: [0, 0.01]
            """)
        let out = dir.appendingPathComponent("tuned")
        let (status, output) = try fedsim(["compare", spec, "--out", out.path])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("2 variant(s) × 6 tuned point(s) × 3 seed(s) = 36 runs"), output)
        XCTAssertTrue(output.contains("[36/36]"), output)

        // Independently: each trial's score is the mean over seeds of the mean validation
        // accuracy of rounds 3 and 4; the best per variant is the highest (earliest on ties).
        let decoder = JSONDecoder()
        func rounds(_ unit: String, _ seed: Int) throws -> [[String: Any]] {
            let text = try String(
                contentsOf: out.appendingPathComponent("runs/\(unit)/seed-\(seed)/rounds.jsonl"), encoding: .utf8)
            return text.split(separator: "\n").map {
                try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
            }
        }
        _ = decoder
        let manifest =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: out.appendingPathComponent("compare.json"))) as! [String: Any]
        let trials = manifest["trials"] as! [[String: Any]]
        XCTAssertEqual(trials.count, 12)
        var scores: [String: Double] = [:]
        var best: [String: (String, Double)] = [:]
        for trial in trials {
            let unit = (trial["unit"] as! [String: Any])["id"] as! String
            let variant = trial["variant"] as! String
            var perSeed: [Double] = []
            for seed in [1, 2, 3] {
                let r = try rounds(unit, seed)
                perSeed.append(
                    (r[3]["validation_accuracy"] as! Double + (r[4]["validation_accuracy"] as! Double)) / 2)
            }
            let score = perSeed.reduce(0, +) / 3
            scores[unit] = score
            if best[variant] == nil || score > best[variant]!.1 { best[variant] = (unit, score) }
        }
        // The heat maps carry those scores, one cell per point, in files and inline.
        for variant in ["adamw", "adam_l2"] {
            let svg = try String(
                contentsOf: out.appendingPathComponent("charts/heatmap-\(variant).svg"), encoding: .utf8)
            let cells = svg.components(separatedBy: "data-value=\"").dropFirst().map {
                Double($0.prefix { $0 != "\"" })!
            }
            XCTAssertEqual(cells.count, 6)
            let expected = trials.filter { $0["variant"] as! String == variant }.map {
                scores[($0["unit"] as! [String: Any])["id"] as! String]!
            }
            XCTAssertEqual(
                Set(cells.map { String(format: "%.5f", $0) }), Set(expected.map { String(format: "%.5f", $0) }))
            XCTAssertTrue(svg.contains("data-x=\"0.01\" data-y=\"0.01\""), "lr on x, weight decay on y")
        }
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "aria-label=\"adamw heat map\"").count - 1, 1)

        // summary.csv: each variant at its best point, with the test window's 95 % interval and
        // adamw's paired difference from adam_l2, recomputed here with SciPy's t quantile.
        let rows = try String(contentsOf: out.appendingPathComponent("summary.csv"), encoding: .utf8)
            .split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = rows[0]
        func column(_ name: String, _ row: [String]) -> Double { Double(row[header.firstIndex(of: name)!])! }
        func window(_ unit: String) throws -> [Double] {
            try [1, 2, 3].map { seed in
                let r = try rounds(unit, seed)
                return (r[3]["test_accuracy"] as! Double + (r[4]["test_accuracy"] as! Double)) / 2
            }
        }
        let t2 = 4.302652729749462
        for (name, row) in [("adamw", rows[1]), ("adam_l2", rows[2])] {
            XCTAssertTrue(row[0].hasPrefix("\(name) ["), row[0])
            let values = try window(best[name]!.0)
            let mean = values.reduce(0, +) / 3
            let sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 2).squareRoot()
            XCTAssertEqual(column("window_acc_mean", row), mean, accuracy: 1e-5)
            XCTAssertEqual(column("window_acc_ci95", row), t2 * sd / 3.0.squareRoot(), accuracy: 1e-5)
            XCTAssertEqual(column("best_validation_mean", row) > 0, true)
        }
        let a = try window(best["adamw"]!.0)
        let b = try window(best["adam_l2"]!.0)
        let d = zip(a, b).map { $0 - $1 }
        let dMean = d.reduce(0, +) / 3
        XCTAssertEqual(column("diff_vs_baseline", rows[1]), dMean, accuracy: 1e-5)
        XCTAssertEqual(rows[2][header.firstIndex(of: "diff_vs_baseline")!], "", "the baseline has no difference")
        let md = try String(contentsOf: out.appendingPathComponent("summary.md"), encoding: .utf8)
        XCTAssertEqual(md.split(separator: "\n").filter { $0.hasPrefix("| adam") }.count, 2)
        XCTAssertTrue(md.contains("(baseline)") && md.contains(" ± "), md)
        let tuning = try String(contentsOf: out.appendingPathComponent("tuning.csv"), encoding: .utf8)
        XCTAssertEqual(tuning.split(separator: "\n").count, 13)
        XCTAssertEqual(tuning.components(separatedBy: ",true\n").count - 1, 2, "one best point per variant")

        // Interrupted: a removed run is redone, the rest kept; the report is the same.
        let first = (trials[0]["unit"] as! [String: Any])["id"] as! String
        try FileManager.default.removeItem(at: out.appendingPathComponent("runs/\(first)/seed-2/summary.json"))
        let before = try String(contentsOf: out.appendingPathComponent("summary.csv"), encoding: .utf8)
        let (again, output2) = try fedsim(["compare", spec, "--out", out.path])
        XCTAssertEqual(again, 0, output2)
        XCTAssertTrue(output2.contains("35 of 36 runs already finished; running the other 1"), output2)
        XCTAssertEqual(try String(contentsOf: out.appendingPathComponent("summary.csv"), encoding: .utf8), before)

        // Tuning needs a validation split, and a known metric.
        let bad = try write(
            "bad.yaml",
            "name: bad\nbase: base.yaml\nvariants: [{name: a}]\ntune: {space: {clients.optimizer.lr: [0.1, 0.01]}}\n")
        let (refused, output3) = try fedsim(["compare", bad, "--out", dir.appendingPathComponent("bad").path])
        XCTAssertEqual(refused, 2, output3)
        XCTAssertTrue(output3.contains("set data.validation_fraction"), output3)
        let badRange = try write(
            "range.yaml",
            "name: r\nbase: base.yaml\nvariants: [{name: a}]\ntune: {space: {clients.optimizer.lr: 'log[0, 1, 3]'}}\n")
        let (refused2, output4) = try fedsim(["compare", badRange, "--out", dir.appendingPathComponent("r").path])
        XCTAssertEqual(refused2, 2, output4)
        XCTAssertTrue(output4.contains("both ends must be > 0"), output4)
    }

    /// A variant can bring its own search space (a server strategy its server lr, say); the
    /// others use the shared one. Each is reported at its own best point, with its own heat map.
    func testVariantsCanHaveSearchSpacesOfTheirOwn() throws {
        let spec = try write(
            "own.yaml",
            """
            name: own
            base: base.yaml
            seeds: [1, 2]
            set: {data.validation_fraction: 0.2, rounds: 3}
            variants:
              - {name: local, set: {clients.optimizer.name: adamw}}
              - name: server
                set: {server: {strategy: fedavgm}}
                tune: {space: {server.lr: [0.1, 0.3, 1]}}
            tune:
              space:
                clients.optimizer.lr: [0.01, 0.03]
            """)
        let out = dir.appendingPathComponent("own")
        let (status, output) = try fedsim(["compare", spec, "--out", out.path])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("(5 tuned points in all) × 2 seed(s) = 10 runs"), output)
        let tuning = try String(contentsOf: out.appendingPathComponent("tuning.csv"), encoding: .utf8)
            .split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(tuning[0].prefix(4), ["variant", "trial", "clients.optimizer.lr", "server.lr"])
        XCTAssertEqual(tuning.filter { $0[0] == "local" }.map { $0[3] }, ["", ""], "no server.lr axis for 'local'")
        XCTAssertEqual(tuning.filter { $0[0] == "server" }.map { $0[3] }, ["0.1", "0.3", "1"])
        for (variant, cells) in [("local", 2), ("server", 3)] {
            let svg = try String(
                contentsOf: out.appendingPathComponent("charts/heatmap-\(variant).svg"), encoding: .utf8)
            XCTAssertEqual(svg.components(separatedBy: "data-value=\"").count - 1, cells, variant)
        }
        let summary = try String(contentsOf: out.appendingPathComponent("summary.csv"), encoding: .utf8)
        XCTAssertTrue(summary.contains("\nserver [lr="), summary)

        let missing = try write(
            "missing.yaml",
            """
            name: missing
            base: base.yaml
            set: {data.validation_fraction: 0.2}
            variants:
              - {name: a}
              - {name: b, tune: {space: {server.lr: [0.5, 1]}}}
            """)
        let (refused, output2) = try fedsim(["compare", missing, "--out", dir.appendingPathComponent("m").path])
        XCTAssertEqual(refused, 2, output2)
        XCTAssertTrue(output2.contains("variant 'a' has no search space"), output2)
    }

    /// `tune.seeds`: the search runs on the tuning seeds only; each variant's chosen point then
    /// runs on the comparison's seeds, and the summary reports those runs alone (chosen on one set
    /// of seeds, measured on another).
    func testTuningSeedsSearchApartFromTheReportedSeeds() throws {
        let spec = try write(
            "ts.yaml",
            """
            name: ts
            base: base.yaml
            seeds: [7, 8]
            set: {data.validation_fraction: 0.2, rounds: 3}
            variants:
              - {name: adamw, set: {clients.optimizer.name: adamw}}
            tune:
              seeds: [1, 2]
              space:
                clients.optimizer.lr: [0.001, 0.01, 0.1]
            """)
        let out = dir.appendingPathComponent("ts")
        let (status, output) = try fedsim(["compare", spec, "--out", out.path])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("searched on 2 tuning seed(s): up to 8 runs"), output)
        XCTAssertTrue(
            output.contains("tuning done; running each variant's chosen point on the 2 reported seed(s)"), output)
        let trials = try FileManager.default.contentsOfDirectory(
            atPath: out.appendingPathComponent("runs/v01-adamw").path
        ).filter { !$0.hasSuffix(".log") }.sorted()
        XCTAssertEqual(trials.count, 3)
        var reported: [String] = []
        for trial in trials {
            let seeds = try FileManager.default.contentsOfDirectory(
                atPath: out.appendingPathComponent("runs/v01-adamw/\(trial)").path
            ).sorted()
            if seeds.contains("seed-7") {
                XCTAssertEqual(seeds, ["seed-1", "seed-2", "seed-7", "seed-8"])
                reported.append(trial)
            } else {
                XCTAssertEqual(seeds, ["seed-1", "seed-2"], "the other points ran on the tuning seeds only")
            }
        }
        XCTAssertEqual(reported.count, 1, "one chosen point")
        let summary = try String(contentsOf: out.appendingPathComponent("summary.csv"), encoding: .utf8)
            .split(separator: "\n")
        XCTAssertTrue(summary[1].hasPrefix("adamw [lr=") && summary[1].contains(",2,"), "\(summary)")
        // The heat map reads the tuning seeds: three cells.
        let svg = try String(contentsOf: out.appendingPathComponent("charts/heatmap-adamw.svg"), encoding: .utf8)
        XCTAssertEqual(svg.components(separatedBy: "data-value=\"").count - 1, 3)
        // Each cell carries its interval over the two tuning seeds, as tuning.csv gives it.
        let tuning = try String(contentsOf: out.appendingPathComponent("tuning.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let header = try String(contentsOf: out.appendingPathComponent("tuning.csv"), encoding: .utf8)
            .split(separator: "\n")[0].split(separator: ",")
        let mean = try XCTUnwrap(header.firstIndex(of: "score_mean"))
        let ci = try XCTUnwrap(header.firstIndex(of: "score_ci95"))
        XCTAssertEqual(tuning.count, 3)
        for row in tuning {
            let (m, h) = (Double(row[mean])!, Double(row[ci])!)
            XCTAssertTrue(
                svg.contains(String(format: "%.4f ± %.4f (2 seeds)", m, h)), "the cell of \(row) in its tooltip")
            XCTAssertTrue(svg.contains(String(format: "±%.3f", h)), "and under its mean")
        }
        // Run again: nothing to do.
        let (again, output2) = try fedsim(["compare", spec, "--out", out.path])
        XCTAssertEqual(again, 0, output2)
        XCTAssertTrue(output2.contains("6 of 6 runs already finished"), output2)
        XCTAssertTrue(output2.contains("2 of 2 runs already finished"), output2)
    }

    /// `--cluster` runs each variant as a local cluster: the same numbers as in one process.
    func testCompareOverClustersGivesTheSameNumbers() throws {
        let spec = try write(
            "k.yaml", "name: k\nbase: base.yaml\nvariants: [{name: only, set: {cluster.processes: 2}}]\n")
        let single = dir.appendingPathComponent("single")
        let cluster = dir.appendingPathComponent("cluster")
        XCTAssertEqual(try fedsim(["compare", spec, "--out", single.path]).0, 0)
        let (status, output) = try fedsim(["compare", spec, "--out", cluster.path, "--cluster"])
        XCTAssertEqual(status, 0, output)
        let hashes = { (root: URL) in
            self.weightsHashes(
                try String(contentsOf: root.appendingPathComponent("runs/v01-only/seed-1/rounds.csv"), encoding: .utf8))
        }
        XCTAssertEqual(try hashes(single), try hashes(cluster))
        XCTAssertTrue(
            FileManager.default.fileExists(
                atPath: cluster.appendingPathComponent("runs/v01-only/seed-1/checkpoint.bin").path))
    }

    func testShippedExperimentSpecsParse() throws {
        let experiments = repo.appendingPathComponent("Topologies/experiments")
        let files = try FileManager.default.contentsOfDirectory(atPath: experiments.path).filter {
            $0.hasSuffix(".yaml")
        }
        XCTAssertGreaterThanOrEqual(files.count, 5)
        for file in files {
            XCTAssertNoThrow(try CompareSpec.load(file: experiments.appendingPathComponent(file).path), file)
        }
    }
}
