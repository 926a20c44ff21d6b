import FedClient
import FedCoordinator
import FedCore
import FedProtocol
import FedSimulation
import FedTestSupport
import FedTopology
import Foundation
import XCTest

/// A client process written in Python (`Sources/fedsim-python`, pyzmq and NumPy) joins a live
/// federation beside a Swift client process: a real coordinator, real processes, ZeroMQ over
/// ipc://. The proof that the round aggregates the Python client's deltas as documented: the same
/// run replayed in one process — the Swift clients training for real, the Python clients' updates
/// taken from what the Python process recorded sending — gives the cluster's weights, bit for bit,
/// after every round; and every task the Python client received carried exactly the global model.
final class PythonClientTests: XCTestCase {
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    var sandbox: ProcessSandbox!
    var dir: URL { sandbox.dir }
    let python = URL(fileURLWithPath: "/usr/bin/python3")

    override func setUpWithError() throws { sandbox = try ProcessSandbox(prefix: "fpy") }
    override func tearDownWithError() throws { sandbox.close() }

    func pythonHasItsModules() -> Bool {
        let p = Process()
        p.executableURL = python
        p.arguments = ["-c", "import zmq, numpy"]
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    /// Replays recorded updates for some clients and trains the others in this process.
    final class ReplayPool: ClientPool {
        let swift: [Int: VirtualClient]
        let recorded: [String: ClientUpdate]
        var missing: [String] = []
        init(swift: [Int: VirtualClient], recorded: [String: ClientUpdate]) {
            self.swift = swift
            self.recorded = recorded
        }
        func train(_ tasks: [ClientTask]) throws -> [ClientUpdate] {
            tasks.compactMap { task in
                if let client = swift[task.clientID] { return client.train(task) }
                guard let u = recorded["\(task.round)-\(task.clientID)"] else {
                    missing.append("round \(task.round) client \(task.clientID)")
                    return nil
                }
                return u
            }
        }
    }

    func floats(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
            }
        }
    }

    /// A Python client of another run (here: another seed) is refused by the coordinator and
    /// exits 2 saying so; a directory that is not a federation is one line and status 2.
    func testAPythonClientOfAnotherRunOrWithoutAFederationExits2() throws {
        guard pythonHasItsModules() else {
            return XCTFail("/usr/bin/python3 lacks pyzmq or NumPy: run Scripts/install-deps.sh --tests")
        }
        let topology = repo.appendingPathComponent("Topologies/quickstart.yaml").path
        let other = dir.appendingPathComponent("other")
        let export = try sandbox.start(
            ["export", topology, "--set", "seed=7", "--clients", "9", "--out", other.path], log: "export.log")
        XCTAssertEqual(try sandbox.finish(export), 0, sandbox.log("export.log"))
        let endpoint = "ipc://\(dir.path)/other.ipc"
        try sandbox.start(
            ["coordinator", topology, "--endpoint", endpoint, "--out", dir.appendingPathComponent("run").path],
            log: "coordinator.log")
        let environment = ["PYTHONPATH": repo.appendingPathComponent("Sources/fedsim-python").path]
        let refused = try sandbox.start(
            executable: python, ["-m", "fedsim_client", "--federation", other.path, "--connect", endpoint],
            log: "refused.log", environment: environment)
        XCTAssertEqual(try sandbox.finish(refused, timeout: 30), 2, sandbox.log("refused.log"))
        XCTAssertTrue(
            sandbox.log("refused.log").contains("the coordinator refused this client"), sandbox.log("refused.log"))
        let missing = try sandbox.start(
            executable: python,
            ["-m", "fedsim_client", "--federation", dir.appendingPathComponent("nowhere").path, "--connect", endpoint],
            log: "missing.log", environment: environment)
        XCTAssertEqual(try sandbox.finish(missing, timeout: 30), 2, sandbox.log("missing.log"))
        let lines = sandbox.log("missing.log").split(separator: "\n")
        XCTAssertEqual(lines.count, 1, sandbox.log("missing.log"))
        XCTAssertTrue(lines.first?.contains("cannot read") == true && lines.first?.contains("fedsim export") == true)
    }

    func testAPythonClientJoinsAFederationAndItsDeltasAreAggregatedAsDocumented() throws {
        guard pythonHasItsModules() else {
            return XCTFail("/usr/bin/python3 lacks pyzmq or NumPy: run Scripts/install-deps.sh --tests")
        }
        let topology = repo.appendingPathComponent("Topologies/quickstart.yaml").path
        let federation = dir.appendingPathComponent("federation")
        let record = dir.appendingPathComponent("record")
        let run = dir.appendingPathComponent("run")
        let endpoint = "ipc://\(dir.path)/py.ipc"
        let export = try sandbox.start(
            ["export", topology, "--clients", "7-9", "--out", federation.path], log: "export.log")
        XCTAssertEqual(try sandbox.finish(export), 0, sandbox.log("export.log"))
        let coordinator = try sandbox.start(
            ["coordinator", topology, "--endpoint", endpoint, "--out", run.path], log: "coordinator.log")
        try sandbox.start(["client", topology, "--clients", "0-6", "--connect", endpoint], log: "swift.log")
        let py = try sandbox.start(
            executable: python,
            ["-m", "fedsim_client", "--federation", federation.path, "--connect", endpoint, "--record", record.path],
            log: "python.log", environment: ["PYTHONPATH": repo.appendingPathComponent("Sources/fedsim-python").path])
        XCTAssertEqual(try sandbox.finish(coordinator), 0, sandbox.log("coordinator.log"))
        XCTAssertEqual(try sandbox.finish(py), 0, sandbox.log("python.log"))
        XCTAssertTrue(
            sandbox.log("python.log").contains("joined the coordinator as clients 7-9"), sandbox.log("python.log"))

        let rounds = Fedsim.rounds(run)
        let summary = Fedsim.summary(run)
        XCTAssertEqual(summary["completed"] as? Bool, true)
        XCTAssertEqual((summary["counts"] as? [String: Any])?.isEmpty, true, "no update was rejected: \(summary)")

        // What the Python process sent, and the weights each of its tasks carried.
        var recorded: [String: ClientUpdate] = [:]
        let lines = try String(contentsOf: record.appendingPathComponent("updates.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        XCTAssertFalse(lines.isEmpty)
        for line in lines {
            let u = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let round = u["round"] as! Int
            let client = u["client"] as! Int
            let weights = try floats(record.appendingPathComponent(u["weights"] as! String))
            XCTAssertEqual(
                WeightHash.hex(weights), rounds[round - 1]["weights_hash"] as? String,
                "round \(round)'s task carried the global model after round \(round - 1)")
            XCTAssertTrue((rounds[round]["participants"] as! [Int]).contains(client), "round \(round) took \(client)")
            recorded["\(round)-\(client)"] = ClientUpdate(
                round: round, clientID: client, sampleCount: u["samples"] as! Int,
                delta: try floats(record.appendingPathComponent(u["delta"] as! String)),
                trainLoss: u["loss"] as! Double, steps: u["steps"] as! Int, state: nil)
        }

        // The same run in one process, the Python clients replayed: the cluster's weights every round.
        let prepared = try PreparedRun.prepare(try Topology.load(file: topology))
        let pool = ReplayPool(swift: prepared.makeClients(0..<7), recorded: recorded)
        final class Hashes: RunObserver {
            var all: [String] = []
            func roundFinished(_ outcome: RoundOutcome, engine: RoundEngine) throws {
                all.append(outcome.record.weightsHash)
            }
        }
        let replayed = Hashes()
        _ = try RunDriver(
            prepared: prepared, pool: pool, mode: .inProcess, resume: nil,
            events: EventLog(file: nil, prefix: "replay", echo: false), observers: [replayed]
        ).run()
        XCTAssertEqual(pool.missing, [], "every task of a Python client has its recorded update")
        XCTAssertEqual(replayed.all, rounds.dropFirst().map { $0["weights_hash"] as! String })
        let pythonRounds = Set(recorded.keys.map { $0.split(separator: "-")[0] })
        XCTAssertGreaterThan(pythonRounds.count, 5, "the Python clients took part in many rounds")
    }
}
