import FedTestSupport
import Foundation
import XCTest

/// `fedsim run` checkpoints every round: Ctrl-C stops it cleanly, SIGKILL loses at most the
/// round in flight, and `--resume` continues to the very numbers of an uninterrupted run —
/// persistent client optimizer states included.
final class ResumeTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("fedsim-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// Starts `fedsim args` and stops it with `signal` once `rounds.jsonl` in `run` holds `after` lines.
    func interrupt(_ args: [String], run: URL, after: Int, with signal: Int32) throws -> Int32 {
        let p = Process()
        p.executableURL = Fedsim.binary
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Fedsim.rounds(run).count < after && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.002)
        }
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        return p.terminationStatus
    }

    func testInterruptedAndKilledRunsResumeToTheSameNumbers() throws {
        let settings = [Fedsim.topology("quickstart.yaml"), "--rounds", "100", "--quiet"]
        let reference = dir.appendingPathComponent("reference")
        let run = dir.appendingPathComponent("run")
        let r = try Fedsim.run(["run"] + settings + ["--out", reference.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let expected = Fedsim.hashes(reference)
        XCTAssertEqual(expected.count, 101)

        // Ctrl-C: exit 130, every finished round on disk, no summary.
        let status = try interrupt(["run"] + settings + ["--out", run.path], run: run, after: 10, with: SIGINT)
        XCTAssertEqual(status, 130, "stopped by Ctrl-C before the end")
        let stopped = Fedsim.hashes(run)
        XCTAssertLessThan(stopped.count, 101)
        XCTAssertEqual(stopped, Array(expected.prefix(stopped.count)))
        XCTAssertNil(Fedsim.summary(run)["completed"] as? Bool)

        // Resumed, then SIGKILLed mid-run, then resumed again to the end.
        XCTAssertEqual(
            try interrupt(
                ["run", "--resume", run.path, "--quiet"], run: run, after: stopped.count + 25, with: SIGKILL),
            SIGKILL, "killed before the end")
        let resumed = try Fedsim.run(["run", "--resume", run.path, "--quiet"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(Fedsim.hashes(run), expected, "same weights after every round, interrupted or not")
        XCTAssertEqual(Fedsim.rounds(run).map { $0["round"] as? Int ?? -1 }, Array(0...100))
        XCTAssertEqual(Fedsim.summary(run)["final_weights_hash"] as? String, expected.last)
        let clients = try String(contentsOf: run.appendingPathComponent("clients.jsonl"), encoding: .utf8).split(
            separator: "\n")
        XCTAssertEqual(clients.count, 100 * 5, "one line per participant per round, none twice")

        // A finished run is not resumed (and not touched: its summary stays).
        let again = try Fedsim.run(["run", "--resume", run.path])
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.stderr.contains("is a finished run"), again.stderr)
        XCTAssertEqual(Fedsim.summary(run)["final_weights_hash"] as? String, expected.last)
    }

    /// Under the *aggregate* policy the checkpoint carries the averaged optimizer state (and
    /// FedAdam's server state): a killed run resumes to the same numbers.
    /// `fedsim cluster --resume RUN` continues a stopped local cluster: its client processes get
    /// their state back without extra flags, and the numbers equal an uninterrupted run's (once,
    /// resuming by hand without --state-dir silently lost the clients' optimizer states).
    func testAStoppedClusterResumesWithItsClientsState() throws {
        let settings = [Fedsim.topology("quickstart-cluster.yaml"), "--rounds", "60", "--quiet"]
        let reference = dir.appendingPathComponent("reference")
        XCTAssertEqual(try Fedsim.run(["run"] + settings + ["--out", reference.path]).status, 0)
        let run = dir.appendingPathComponent("cluster")
        let status = try interrupt(
            ["cluster"] + settings + ["--out", run.path, "--endpoint", "ipc://\(dir.path)/a.ipc"], run: run, after: 8,
            with: SIGINT)
        XCTAssertEqual(status, 130, "stopped by Ctrl-C before the end")
        let stopped = Fedsim.hashes(run)
        XCTAssertLessThan(stopped.count, 61)
        let resumed = try Fedsim.run(
            ["cluster", "--resume", run.path, "--endpoint", "ipc://\(dir.path)/b.ipc", "--quiet"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        // Under the persist policy, equal weights after the resume need the clients' states back.
        XCTAssertEqual(Fedsim.hashes(run), Fedsim.hashes(reference), "the same weights after every round")
        XCTAssertTrue(resumed.stderr.contains("restored the optimizer state of"), resumed.stderr)
    }

    func testAnAggregatePolicyRunResumesWithItsSharedState() throws {
        let settings = [
            Fedsim.topology("quickstart.yaml"), "--rounds", "60", "--quiet", "--set", "clients.state=aggregate",
            "--set", "server={strategy: fedadam, lr: 0.01}",
        ]
        let reference = dir.appendingPathComponent("reference")
        let run = dir.appendingPathComponent("run")
        XCTAssertEqual(try Fedsim.run(["run"] + settings + ["--out", reference.path]).status, 0)
        XCTAssertEqual(
            try interrupt(["run"] + settings + ["--out", run.path], run: run, after: 15, with: SIGKILL), SIGKILL)
        let resumed = try Fedsim.run(["run", "--resume", run.path, "--quiet"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(Fedsim.hashes(run), Fedsim.hashes(reference))
    }

    func testResumeRefusesWhatIsNotARunAndFlagsThatDoNotFit() throws {
        let r = try Fedsim.run(["run", "--resume", dir.path])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("no checkpoint.bin"), r.stderr)
        let both = try Fedsim.run(["run", Fedsim.topology("quickstart.yaml"), "--resume", dir.path])
        XCTAssertEqual(both.status, 2, both.stderr)
        XCTAssertTrue(both.stderr.contains("--resume takes the run's own topology"), both.stderr)
    }
}
