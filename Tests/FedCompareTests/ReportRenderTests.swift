import FedTestSupport
import Foundation
import XCTest

/// A 24-variant tuned comparison's report, rendered by headless Chromium
/// (`Scripts/report-render-check.sh`): the screenshot is not blank and holds many colours, and
/// the rendered page has every chart line, heat-map cell, table row and the per-client accuracy
/// distribution. Skipped, saying so, where Chromium is absent (`Scripts/install-deps.sh --tests`
/// installs it, as `Scripts/test.sh` does).
final class ReportRenderTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = URL(fileURLWithPath: "/tmp").appendingPathComponent("fedsim-render-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testA24VariantReportRendersInChromium() throws {
        try """
        seed: 3
        rounds: 4
        data: {source: blobs, count: 600, features: 4, classes: 3, spread: 1.5, validation_fraction: 0.2}
        partition: {scheme: dirichlet, alpha: 0.5}
        model: {kind: softmax}
        clients: {count: 8, per_round: 4, optimizer: {name: adamw, lr: 0.05}}
        metrics: {client_accuracy: true}
        """.write(to: dir.appendingPathComponent("base.yaml"), atomically: true, encoding: .utf8)
        try """
        name: r24
        base: base.yaml
        seeds: [1]
        grid:
          clients.optimizer.name: [adamw, adam_l2, adam, sgd]
          partition.alpha: [0.1, 1]
          clients.local.batch_size: [8, 16, 32]
        tune:
          space: {clients.optimizer.lr: [0.01, 0.1], clients.optimizer.weight_decay: [0, 0.01]}
        """.write(to: dir.appendingPathComponent("spec.yaml"), atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out")
        let compare = try Fedsim.run(["compare", dir.appendingPathComponent("spec.yaml").path, "--out", out.path])
        XCTAssertEqual(compare.status, 0, compare.stderr)
        let accuracies = try String(
            contentsOf: out.appendingPathComponent("runs/v01-optimizer_adamw_alpha_0.1_batch_size_8")
                .appendingPathComponent("t01-lr_0.01_weight_decay_0/seed-1/client_accuracy.csv"),
            encoding: .utf8)
        XCTAssertEqual(accuracies.split(separator: "\n").count, 9, "a header and one line per client")

        let (status, output) = try Fedsim.runScript("report-render-check.sh", [out.path, "24"])
        if status == 77 { throw XCTSkip(output) }
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("rendered\n"), output)
        XCTAssertTrue(output.contains("28 charts, 96 lines, 96 heat-map cells"), output)
    }
}
