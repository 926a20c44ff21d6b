import FedTestSupport
import Foundation
import XCTest

final class ReplayCLITests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("fedsim-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func write(_ name: String, _ text: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Replays the zero-gradient experiment: AdamW's trajectory is w0·(1−ηλ)^t.
    func testReplayPrintsTheTrajectoryAsJSONAndCSV() throws {
        let spec = try write("adamw.yaml", "name: adamw\nlr: 0.01\nweight_decay: 0.1\n")
        let grads = try write("g.json", #"{"initial": [2.0, -1.0], "gradients": [[0, 0], [0, 0], [0, 0]]}"#)
        let json = try Fedsim.run(["optimizer", "replay", "--spec", spec, "--input", grads])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: [[Double]]]
        let trajectory = try XCTUnwrap(object?["trajectory"])
        XCTAssertEqual(trajectory.count, 3)
        for (t, row) in trajectory.enumerated() {
            let factor = pow(1 - 0.01 * 0.1, Double(t + 1))
            XCTAssertEqual(row[0], 2 * factor, accuracy: 1e-6)
            XCTAssertEqual(row[1], -1 * factor, accuracy: 1e-6)
        }
        let csv = try Fedsim.run(["optimizer", "replay", "--spec", spec, "--input", grads, "--format", "csv"])
        XCTAssertEqual(csv.status, 0, csv.stderr)
        let lines = csv.stdout.split(separator: "\n")
        XCTAssertEqual(lines.first, "step,w0,w1")
        XCTAssertEqual(lines.count, 4)
        XCTAssertTrue(lines[3].hasPrefix("3,"))
        XCTAssertEqual(Double(lines[3].split(separator: ",")[1])!, trajectory[2][0], accuracy: 1e-7)
    }

    /// Each malformed input gets exit status 2 and one line naming the problem.
    func testBadInputGetsOneClearLineAndExitTwo() throws {
        let good = try write("good.yaml", "name: adam\n")
        let grads = try write("g.json", #"{"initial": [1, 2], "gradients": [[0.1, 0.2]]}"#)
        let cases: [(spec: String, grads: String, expect: String)] = [
            (try write("b1.yaml", "name: adamw\nbeta2: 1.2\n"), grads, "beta2: 1.2 is outside [0, 1)"),
            (try write("b2.yaml", "name: adamw\nmomentum: 0.9\n"), grads, "'momentum' is not a setting of adamw"),
            (try write("b3.yaml", "name: adamw\nlearning_rate: 0.1\n"), grads, "learning_rate: unknown key"),
            (try write("b4.yaml", "name: adamx\n"), grads, "'adamx' is not one of"),
            (try write("b5.yaml", "name: [adam\n"), grads, "not valid YAML"),
            (try write("b6.yaml", "lr: 0.1\n"), grads, "missing required key 'name'"),
            (try write("b7.yaml", "name: sgd\nlr: fast\n"), grads, "lr: expected a finite number, found 'fast'"),
            (
                try write("b8.yaml", "name: adamw\nschedule: {type: cosine}\n"), grads,
                "schedule: missing required key 't_max'"
            ),
            (dir.appendingPathComponent("missing.yaml").path, grads, "cannot read"),
            (
                good, try write("g1.json", #"{"initial": [1, 2], "gradients": [[0.1]]}"#),
                "gradients[0] has 1 values, expected 2"
            ),
            (
                good, try write("g2.json", #"{"initial": [1, 2], "gradients": [[0.1, "x"]]}"#),
                "gradients[0][1] is not a number"
            ),
            (good, try write("g3.json", #"{"initial": [1, 2], "gradients": "#), "not valid JSON"),
            (good, try write("g4.json", #"{"initial": [], "gradients": []}"#), "initial is empty"),
            (good, try write("g5.json", #"{"initial": [1e39], "gradients": []}"#), "not a finite Float32"),
            (good, try write("g7.json", #"{"initial": [1, true], "gradients": []}"#), "initial[1] is not a number"),
            (good, try write("g6.json", #"{"initial": [1], "gradient": []}"#), "unknown key 'gradient'"),
        ]
        for c in cases {
            let r = try Fedsim.run(["optimizer", "replay", "--spec", c.spec, "--input", c.grads])
            XCTAssertEqual(r.status, 2, "\(c.expect): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "one line: \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(c.expect), "expected '\(c.expect)' in: \(r.stderr)")
            XCTAssertTrue(r.stdout.isEmpty)
        }
    }

    /// `fedsim optimizer replay` reproduces a torch reference trajectory.
    func testReplayMatchesATorchFixture() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("FedOptimTests/Fixtures/torch_optimizers.json")
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: fixtures)) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        let c = try XCTUnwrap(cases.first { $0["name"] as? String == "adam_l2_lr0.01_weight_decay0.1" })
        let spec = try write(
            "spec.json", String(decoding: try JSONSerialization.data(withJSONObject: c["spec"]!), as: UTF8.self))
        let input = try write(
            "grads.json",
            String(
                decoding: try JSONSerialization.data(
                    withJSONObject: ["initial": c["initial"]!, "gradients": c["gradients"]!]), as: UTF8.self))
        let r = try Fedsim.run(["optimizer", "replay", "--spec", spec, "--input", input])
        XCTAssertEqual(r.status, 0, r.stderr)
        let got = try XCTUnwrap(
            (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: [[Double]]])?["trajectory"])
        let want = try XCTUnwrap(c["trajectory"] as? [[Double]])
        XCTAssertEqual(got.count, want.count)
        for (a, b) in zip(got.joined(), want.joined()) { XCTAssertEqual(a, b, accuracy: 1e-5 + 1e-5 * abs(b)) }
    }
}
