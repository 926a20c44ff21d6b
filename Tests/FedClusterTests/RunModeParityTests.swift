import FedData
import FedSimulation
import FedTestSupport
import FedWire
import Foundation
import XCTest

/// The single-process run and the cluster are one run loop over two pools: they must treat a
/// bad client alike, and a cluster's processes must agree on what determines the numbers —
/// not on where the files are.
final class RunModeParityTests: XCTestCase {
    var sandbox: ProcessSandbox!
    var dir: URL { sandbox.dir }

    override func setUpWithError() throws { sandbox = try ProcessSandbox(prefix: "fsp") }
    override func tearDownWithError() throws { sandbox.close() }

    @discardableResult
    func start(_ args: [String], log name: String) throws -> Process { try sandbox.start(args, log: name) }
    func log(_ name: String) -> String { sandbox.log(name) }
    func finish(_ p: Process, timeout: Double = 120) throws -> Int32 { try sandbox.finish(p, timeout: timeout) }

    /// Clients 0 and 1 diverge (SGD with lr 1e30): their updates hold Inf/NaN. Both modes leave
    /// exactly those updates out, count them under `rejected.non_finite`, and reach the same
    /// finite weights after every round. (Before: the single-process weights turned NaN, and
    /// the cluster waited out `round_timeout` per retry and stopped with a quorum error.)
    func testANonFiniteUpdateIsLeftOutAlikeInBothModes() throws {
        let settings = [
            "--rounds", "6", "--set",
            "clients.groups=[{name: wild, clients: 0-1, optimizer: {name: sgd, lr: 1.0e+30}}]",
            "--set", "cluster.round_timeout=30",
        ]
        let single = dir.appendingPathComponent("single")
        let cluster = dir.appendingPathComponent("cluster")
        XCTAssertEqual(
            try finish(
                start(
                    ["run", Fedsim.topology("quickstart.yaml"), "--out", single.path, "--quiet"] + settings,
                    log: "single.log")), 0, log("single.log"))
        XCTAssertEqual(
            try finish(
                start(
                    [
                        "cluster", Fedsim.topology("quickstart.yaml"), "--out", cluster.path, "--quiet",
                        "--endpoint", "ipc://\(dir.path)/n.ipc",
                    ] + settings, log: "cluster.log"), timeout: 60),
            0, log("cluster.log"))
        let a = try XCTUnwrap(RunSummary.load(from: single))
        let b = try XCTUnwrap(RunSummary.load(from: cluster))
        XCTAssertEqual(Fedsim.hashes(single), Fedsim.hashes(cluster))
        XCTAssertEqual(Fedsim.hashes(single).count, 7)
        let rejected = try XCTUnwrap(a.counts["rejected.non_finite"])
        XCTAssertGreaterThan(rejected, 0)
        XCTAssertEqual(b.counts["rejected.non_finite"], rejected)
        XCTAssertEqual(a.mode, .inProcess)
        XCTAssertEqual(b.mode, .cluster)
        XCTAssertTrue(a.finalTestLoss.isFinite)
        XCTAssertGreaterThan(a.finalTestAccuracy ?? 0, 0.5, "the healthy clients keep training")
        // Every rejected update names its client: only 0 and 1 diverge.
        let events = try String(contentsOf: single.appendingPathComponent("events.log"), encoding: .utf8)
        let lines = events.split(separator: "\n").filter { $0.contains("left out the update of client") }
        XCTAssertEqual(lines.count, rejected)
        XCTAssertTrue(
            lines.allSatisfy { $0.contains("client 0:") || $0.contains("client 1:") }, lines.joined(separator: "\n"))
        for record in Fedsim.rounds(single).dropFirst() {
            let participants = record["participants"] as? [Int] ?? []
            XCTAssertFalse(
                participants.contains(0) || participants.contains(1), "diverged clients are not participants")
        }
    }

    /// A copy of the quickstart (topology and data) in its own directory.
    func checkout(_ name: String) throws -> URL {
        let root = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("data"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: Fedsim.topology("quickstart.yaml"), toPath: root.appendingPathComponent("quickstart.yaml").path)
        try FileManager.default.copyItem(
            atPath: Fedsim.topology("data/digits.csv"), toPath: root.appendingPathComponent("data/digits.csv").path)
        return root
    }

    /// The coordinator reads its topology and data from one directory, the client processes from
    /// another (as on two machines with different checkout paths): the run goes ahead and gives
    /// the pinned numbers. (Before: the fingerprint hashed absolute paths and refused it.)
    func testAClusterRunsAcrossTwoCheckoutPaths() throws {
        let a = try checkout("machine-a")
        let b = try checkout("machine-b")
        let run = dir.appendingPathComponent("run")
        let endpoint = "ipc://\(dir.path)/p.ipc"
        let coordinator = try start(
            [
                "coordinator", a.appendingPathComponent("quickstart.yaml").path, "--endpoint", endpoint,
                "--out", run.path, "--quiet",
            ], log: "coordinator.log")
        for range in ["0-4", "5-9"] {
            try start(
                [
                    "client", b.appendingPathComponent("quickstart.yaml").path, "--clients", range, "--connect",
                    endpoint,
                    "--state-dir", dir.appendingPathComponent("state").path,
                ], log: "client-\(range).log")
        }
        XCTAssertEqual(try finish(coordinator), 0, log("coordinator.log") + log("client-0-4.log"))
        XCTAssertEqual(RunSummary.load(from: run)?.finalWeightsHash, "db103b07c6854ffb")
    }

    /// A client process whose data file differs by one value at the same relative path is
    /// refused: the coordinator answers ERROR 2 and the client exits with status 2, naming the
    /// fingerprints. (Before: the same path with other content joined and changed the numbers,
    /// and a refused client never read the ERROR, looping until killed.)
    func testAClientWithOtherDataIsRefused() throws {
        let a = try checkout("machine-a")
        let b = try checkout("machine-b")
        let csv = b.appendingPathComponent("data/digits.csv")
        var lines = try String(contentsOf: csv, encoding: .utf8).components(separatedBy: "\n")
        var fields = lines[1].components(separatedBy: ",")
        fields[3] = fields[3] == "0" ? "1" : "0"
        lines[1] = fields.joined(separator: ",")
        try lines.joined(separator: "\n").write(to: csv, atomically: true, encoding: .utf8)
        let endpoint = "ipc://\(dir.path)/m.ipc"
        let coordinator = try start(
            [
                "coordinator", a.appendingPathComponent("quickstart.yaml").path, "--endpoint", endpoint,
                "--out", dir.appendingPathComponent("run").path, "--set", "cluster.join_timeout=30",
            ],
            log: "coordinator.log")
        let client = try start(
            [
                "client", b.appendingPathComponent("quickstart.yaml").path, "--clients", "0-9", "--connect", endpoint,
                "--state-dir", dir.appendingPathComponent("state").path,
            ], log: "client.log")
        XCTAssertEqual(try finish(client, timeout: 30), 2, log("client.log"))
        XCTAssertTrue(log("client.log").contains("fingerprint"), log("client.log"))
        XCTAssertTrue(log("coordinator.log").contains("run fingerprint"), log("coordinator.log"))
        kill(coordinator.processIdentifier, SIGTERM)
        XCTAssertEqual(try finish(coordinator), 130)
    }

    /// `data.source: npy` in a cluster of two client processes: each process maps the same
    /// arrays and keeps views into them, and the run gives `fedsim run`'s weights every round.
    func testAClusterOnMappedArraysGivesTheInProcessNumbers() throws {
        let digits = try DataLoader.csv(path: Fedsim.topology("data/digits.csv"), task: .classification)
        try Data(NumpyArrayFile.float32(Array(digits.features), shape: [digits.count, 1, 8, 8])).write(
            to: dir.appendingPathComponent("x.npy"))
        try Data(NumpyArrayFile.int64(digits.labels!.map(Int64.init))).write(to: dir.appendingPathComponent("y.npy"))
        let topology = dir.appendingPathComponent("mapped.yaml")
        try """
        name: mapped
        seed: 7
        rounds: 4
        data: {source: npy, features: x.npy, targets: y.npy}
        partition: {scheme: dirichlet, alpha: 0.5}
        model: {kind: mlp, hidden: [16]}
        clients:
          count: 6
          per_round: 4
          local: {epochs: 1, batch_size: 16}
          optimizer: {name: adamw, lr: 0.003, weight_decay: 0.01}
          state: persist
        cluster: {processes: 2}
        """.write(to: topology, atomically: true, encoding: .utf8)
        let single = dir.appendingPathComponent("single")
        let cluster = dir.appendingPathComponent("cluster")
        XCTAssertEqual(
            try finish(start(["run", topology.path, "--out", single.path, "--quiet"], log: "single.log")), 0,
            log("single.log"))
        XCTAssertEqual(
            try finish(
                start(
                    [
                        "cluster", topology.path, "--out", cluster.path, "--quiet", "--endpoint",
                        "ipc://\(dir.path)/npy.ipc",
                    ], log: "cluster.log"), timeout: 60), 0, log("cluster.log"))
        XCTAssertEqual(Fedsim.hashes(single).count, 5)
        XCTAssertEqual(Fedsim.hashes(single), Fedsim.hashes(cluster))
    }
}
