import FedCoordinator
import Foundation
import XCTest

@testable import FedCompare

/// Charts that read at 24 variants: no two lines share a style, bands are left out beyond six
/// lines, the y axis has a title and at least four labelled ticks, and the SVG follows the page width.
final class ChartTests: XCTestCase {
    func run(_ offset: Double, rounds: Int = 10, spread: Double = 1) -> RunMetrics {
        RunMetrics(
            rounds: (0...rounds).map { r in
                RoundRecord(
                    round: r, testLoss: 1, testAccuracy: 0.5 + spread * (offset + Double(r)) / 1000, testRMSE: nil,
                    testR2: nil, trainLoss: nil, weightNorm: 1, updateNorm: 0, participants: [], samples: 0,
                    payloadBytes: 0, seconds: 0, weightsHash: "")
            })
    }

    func attribute(_ name: String, in element: Substring) -> String? {
        guard let start = element.range(of: " \(name)=\"") else { return nil }
        return String(element[start.upperBound...].prefix { $0 != "\"" })
    }

    func testTwentyFourVariantsAreTellApartAndUnbanded() {
        let lines = (0..<24).map { i in
            Report.ChartLine(name: "v\(i)", index: i, runs: [run(Double(i)), run(Double(i) + 3)])
        }
        let svg = Report.chart(.accuracy, lines)
        let polylines = svg.split(separator: "<polyline").dropFirst()
        XCTAssertEqual(polylines.count, 24)
        let styles = polylines.map {
            "\(attribute("stroke", in: $0) ?? "")|\(attribute("stroke-dasharray", in: $0) ?? "solid")"
        }
        XCTAssertEqual(Set(styles).count, 24, "every line its own colour and dash: \(styles)")
        XCTAssertFalse(svg.contains("<polygon"), "no seed bands beyond six lines")
        XCTAssertTrue(svg.contains("width=\"100%\""))
        XCTAssertTrue(svg.contains("rotate(-90") && svg.contains(">test accuracy</text>"), "a y-axis title")

        let few = Report.chart(
            .accuracy, (0..<3).map { Report.ChartLine(name: "v\($0)", index: $0, runs: [run(0), run(5)]) })
        XCTAssertEqual(few.components(separatedBy: "<polygon").count - 1, 3, "bands for a few lines")
    }

    /// With the virtual clock, a chart against virtual time puts round r at the seeds' mean
    /// virtual time: here seed A's rounds last 1 s and seed B's 3 s, so round r sits at 2r.
    func testAChartAgainstVirtualTimePlacesRoundsAtTheirMeanTime() {
        func timed(_ perRound: Double) -> RunMetrics {
            var m = run(0, rounds: 10)
            for r in m.rounds.indices { m.rounds[r].virtualTime = perRound * Double(r) }
            return m
        }
        let lines = [Report.ChartLine(name: "a", index: 0, runs: [timed(1), timed(3)])]
        XCTAssertTrue(Report.hasVirtualTime(lines))
        XCTAssertFalse(Report.hasVirtualTime([Report.ChartLine(name: "b", index: 0, runs: [run(0)])]))
        let svg = Report.chart(.accuracy, lines, axis: .virtualTime)
        XCTAssertTrue(svg.contains("test accuracy against virtual time"))
        XCTAssertTrue(svg.contains(">virtual seconds</text>"))
        let points = attribute("points", in: svg.split(separator: "<polyline")[1])!.split(separator: " ").map {
            Double($0.split(separator: ",")[0])!
        }
        XCTAssertEqual(points.count, 11)
        // The plot spans x = 64 … 744 for 0 … 20 virtual seconds; round 5 is at 10 s, the middle.
        XCTAssertEqual(points[5], 404, accuracy: 0.1)
        XCTAssertEqual(points[10], 744, accuracy: 0.1)
        for label in ["0", "5", "10", "15", "20"] {
            XCTAssertTrue(svg.contains("text-anchor=\"middle\">\(label)</text>"), "x tick \(label)")
        }
    }

    /// The per-client accuracy chart is each variant's empirical CDF over its clients (seeds
    /// pooled): one step up of 1/n at each client's accuracy, ending at 1.
    func testTheClientAccuracyDistributionIsAStepFunctionOverTheClients() {
        var a = run(0)
        a.clientAccuracies = [0.9, 0.5]
        var b = run(0)
        b.clientAccuracies = [0.7, 1.0]
        let lines = [Report.ChartLine(name: "pooled", index: 0, runs: [a, b])]
        XCTAssertTrue(Report.hasClientAccuracies(lines))
        XCTAssertFalse(Report.hasClientAccuracies([Report.ChartLine(name: "none", index: 0, runs: [run(0)])]))
        let svg = Report.distributionChart(lines)
        let points = attribute("points", in: svg.split(separator: "<polyline")[1])!.split(separator: " ").map {
            $0.split(separator: ",").map { Double($0)! }
        }
        XCTAssertEqual(points.count, 1 + 2 * 4, "a start and two points per client")
        XCTAssertEqual(Set(points.map { $0[1] }).count, 5, "fractions 0, 1/4, 1/2, 3/4, 1")
        XCTAssertEqual(points.map { $0[0] }, points.map { $0[0] }.sorted(), "ordered by accuracy")
        XCTAssertTrue(svg.contains("(4 clients)"))
        XCTAssertTrue(svg.contains(">fraction of clients ≤ x</text>"))
    }

    /// Legends carry the table's number and a short name: no tuned point, at most 46 characters.
    func testLegendLabelsAreNumberedAndShort() {
        let long = Report.ChartLine(
            name: "optimizer=adam_l2 alpha=0.1 batch_size=32 weight_decay=0.01 momentum=0.9 [lr=0.1]", index: 6,
            runs: [])
        XCTAssertEqual(long.label, "7. optimizer=adam_l2 alpha=0.1 batch_size=32 wei…")
        XCTAssertEqual(Report.ChartLine(name: "adamw [lr=0.01]", index: 0, runs: []).label, "1. adamw")
    }

    func testEvenANarrowRangeGetsFourTicks() {
        for (lo, hi) in [(0.9512, 0.9518), (0.0, 1.0), (0.05, 1.02), (12.0, 13.5), (0.1, 0.1004), (-3.0, 250.0)] {
            let ticks = Report.niceTicks(lo, hi)
            XCTAssertGreaterThanOrEqual(ticks.count, 4, "\(lo)…\(hi): \(ticks)")
            XCTAssertLessThanOrEqual(ticks.count, 12)
            XCTAssertTrue(ticks.allSatisfy { $0 >= lo - 1e-12 && $0 <= hi + 1e-12 })
            // Labels are written exactly: no two ticks print alike.
            let labels = ticks.map { Report.tick($0, decimals: Report.decimalsShowing(ticks[1] - ticks[0])) }
            XCTAssertEqual(Set(labels).count, labels.count, "\(labels)")
        }
    }
}
