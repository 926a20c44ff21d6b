import FedTestSupport
import Foundation
import XCTest

/// Every bad flag is bad input: exit status 2 and one message that names the flag (before:
/// ArgumentParser's 64, "Missing value" for a negative number, and `topology.yaml:1` for a
/// `--set` value).
final class FlagErrorTests: XCTestCase {
    let quickstart = Fedsim.topology("quickstart.yaml")

    func check(
        _ arguments: [String], mentions expected: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let r = try Fedsim.run(arguments)
        XCTAssertEqual(r.status, 2, "\(arguments): \(r.stderr)", file: file, line: line)
        XCTAssertTrue(
            r.stderr.contains(expected), "\(arguments): expected '\(expected)' in: \(r.stderr)", file: file, line: line)
        XCTAssertFalse(
            r.stderr.contains("quickstart.yaml:1:"), "the flag, not line 1 of the file", file: file, line: line)
    }

    func testBadFlagsExitWith2AndNameTheFlag() throws {
        try check(["run", quickstart, "--no-such-flag"], mentions: "--no-such-flag")
        try check(["run", quickstart, "--seed", "-1"], mentions: "--seed")
        try check(["run", quickstart, "--rounds", "-3"], mentions: "--rounds must be at least 1")
        try check(
            ["run", quickstart, "--set", "clients.count=abc"], mentions: "--set clients.count=abc: clients.count")
        try check(
            ["run", quickstart, "--set", "clients.optimizer.beta2=1.5"], mentions: "--set clients.optimizer.beta2=1.5")
        try check(["run", quickstart, "--set", "nonsense"], mentions: "--set nonsense")
        try check(["cluster", quickstart, "--processes", "0"], mentions: "--processes 0: cluster.processes")
        try check(["cluster", quickstart, "--endpoint", "tcp://127.0.0.1:99999"], mentions: "--endpoint")
        try check(["coordinator", quickstart, "--endpoint", "udp://x"], mentions: "--endpoint")
        try check(["client", quickstart, "--clients", "4-x", "--connect", "ipc:///tmp/x.ipc"], mentions: "--clients")
        try check(
            ["client", quickstart, "--clients", "0-40", "--connect", "ipc:///tmp/x.ipc"],
            mentions: "--clients: 0-40 is outside 0-9")
    }

    func testATopologyEndpointWithABadPortIsRefused() throws {
        try check(
            ["validate", quickstart, "--no-data", "--set", "cluster.endpoint=tcp://127.0.0.1:70000"],
            mentions: "port '70000' is not in 1-65535")
    }

    /// Every command's help shows examples.
    func testEveryCommandsHelpHasExamples() throws {
        let commands = [
            [], ["run"], ["cluster"], ["coordinator"], ["client"], ["compare"], ["report"], ["validate"],
            ["optimizer"], ["optimizer", "list"], ["optimizer", "replay"],
            ["bench"], ["bench", "optimizers"], ["bench", "transport"], ["bench", "cluster"],
        ]
        for command in commands {
            let r = try Fedsim.run(["help"] + command)
            XCTAssertEqual(r.status, 0, "\(command): \(r.stderr)")
            XCTAssertTrue(
                r.stdout.contains("Examples:"), "fedsim \(command.joined(separator: " ")) --help has no examples")
        }
    }
}
