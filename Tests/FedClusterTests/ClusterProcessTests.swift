import FedProtocol
import FedSimulation
import FedTestSupport
import FedTopology
import FedTransport
import FedTransportZMQ
import FedWire
import Foundation
import XCTest

/// Starts real `fedsim` processes talking ZeroMQ over 127.0.0.1, ipc:// and inproc://.
final class ClusterProcessTests: XCTestCase {
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    var sandbox: ProcessSandbox!
    var dir: URL { sandbox.dir }

    var binary: URL { Fedsim.binary }

    var quickstart: String { repo.appendingPathComponent("Topologies/quickstart.yaml").path }

    override func setUpWithError() throws { sandbox = try ProcessSandbox(prefix: "fsc") }
    override func tearDownWithError() throws { sandbox.close() }

    @discardableResult
    func start(_ args: [String], log name: String) throws -> Process { try sandbox.start(args, log: name) }
    func log(_ name: String) -> String { sandbox.log(name) }
    func wait(_ what: String, timeout: Double = 60, _ condition: () -> Bool) throws {
        try sandbox.wait(what, timeout: timeout, condition)
    }
    func finish(_ p: Process, timeout: Double = 120) throws -> Int32 { try sandbox.finish(p, timeout: timeout) }

    func rounds(_ run: URL) -> [[String: Any]] { Fedsim.rounds(run) }
    func hashes(_ run: URL) -> [String] { Fedsim.hashes(run) }

    /// A client process of another run exits 2 and says what differs: the model section, or the
    /// data's content (the same settings over other data), not merely "another fingerprint".
    func testAClientOfAnotherRunExits2NamingWhatDiffers() throws {
        let endpoint = "ipc://\(dir.path)/m.ipc"
        let coordinator = try start(
            [
                "coordinator", quickstart, "--endpoint", endpoint, "--out", dir.appendingPathComponent("run").path,
                "--set", "cluster.join_timeout=30",
            ],
            log: "coordinator.log")
        try wait("the coordinator") { FileManager.default.fileExists(atPath: "\(dir.path)/m.ipc") }
        // The same digits with one feature changed: identical settings, other data.
        let original = try String(
            contentsOfFile: repo.appendingPathComponent("Topologies/data/digits.csv").path, encoding: .utf8)
        var lines = original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let last = lines.count - 2
        var fields = lines[last].split(separator: ",").map(String.init)
        fields[1] = fields[1] == "0" ? "1" : "0"
        lines[last] = fields.joined(separator: ",")
        let otherData = dir.appendingPathComponent("digits.csv").path
        try lines.joined(separator: "\n").write(toFile: otherData, atomically: true, encoding: .utf8)
        for (set, differing) in [
            ("model.hidden=[16]", "this process's model, initial_weights differ(s)"),
            ("data.path=\(otherData)", "this process's data_content differ(s)"),
        ] {
            let r = try Fedsim.run(["client", quickstart, "--clients", "0-9", "--connect", endpoint, "--set", set])
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertTrue(r.stderr.contains(differing + " from the coordinator's"), r.stderr)
        }
        kill(coordinator.processIdentifier, SIGINT)
        _ = try finish(coordinator)
    }

    /// The single-process run and the cluster over tcp, ipc and inproc give bit-identical global
    /// weights after every round — for the persist policy and for aggregated AMSGrad moments.
    func testClusterEqualsSingleProcessOverEveryTransport() throws {
        for extra in [
            [String](),
            ["--set", "clients.state=aggregate", "--set", "clients.optimizer.name=amsgrad", "--rounds", "6"],
        ] {
            let reference = dir.appendingPathComponent("run-\(extra.count)")
            XCTAssertEqual(
                try finish(start(["run", quickstart, "--out", reference.path, "--quiet"] + extra, log: "run.log")), 0,
                log("run.log"))
            let expected = hashes(reference)
            XCTAssertGreaterThan(expected.count, 5)
            let port = Int.random(in: 20000...60000)
            for endpoint in ["tcp://127.0.0.1:\(port)", "ipc://\(dir.path)/c.ipc", "inproc://fedsim-test"] {
                let out = dir.appendingPathComponent("cluster-\(extra.count)-\(endpoint.prefix(3))")
                let p = try start(
                    ["cluster", quickstart, "--out", out.path, "--endpoint", endpoint, "--quiet"] + extra,
                    log: "cluster.log")
                XCTAssertEqual(try finish(p), 0, log("cluster.log"))
                XCTAssertEqual(hashes(out), expected, "\(endpoint) \(extra)")
            }
        }
    }

    /// Stragglers are drawn from the seed by the coordinator and by each client process alike:
    /// with half the sampled clients straggling (partial work) or dropped, a 2-process cluster
    /// gives the single-process weights. The partial run also keeps batch norms local (FedBN,
    /// `model.batch_norm: local`): the client processes keep each client's own in their state
    /// files, and the weights still agree.
    func testStragglersAndLocalBatchNormsAreTheSameInEveryProcess() throws {
        let fedbn =
            "model={kind: sequential, layers: [{layer: dense, units: 32}, batch_norm, relu, "
            + "{layer: dense, units: 10}], batch_norm: local}"
        for (policy, extra) in [("partial", ["--set", fedbn]), ("drop", [])] {
            let (reference, out) = try runInOneProcessAndAsACluster(
                ["--set", "clients.stragglers={fraction: 0.5, policy: \(policy)}", "--rounds", "6"] + extra,
                name: policy)
            XCTAssertEqual(hashes(out), hashes(reference), policy)
            XCTAssertEqual(hashes(out).count, 7, policy)
        }
    }

    /// The quickstart with `extra` as `fedsim run` and as a 2-process `fedsim cluster`: both
    /// run directories (each must exit 0).
    func runInOneProcessAndAsACluster(_ extra: [String], name: String) throws -> (reference: URL, cluster: URL) {
        let reference = dir.appendingPathComponent("run-\(name)")
        XCTAssertEqual(
            try finish(start(["run", quickstart, "--out", reference.path, "--quiet"] + extra, log: "run.log")), 0,
            log("run.log"))
        let out = dir.appendingPathComponent("cluster-\(name)")
        let p = try start(
            ["cluster", quickstart, "--out", out.path, "--endpoint", "ipc://\(dir.path)/\(name).ipc", "--quiet"]
                + extra,
            log: "cluster.log")
        XCTAssertEqual(try finish(p), 0, log("cluster.log"))
        return (reference, out)
    }

    /// A heterogeneous federation under the virtual clock — lognormal speeds and bandwidths,
    /// clients offline, a deadline with partial work, over-commitment — gives the same weights
    /// and the same virtual times as a 2-process cluster and in one process: the coordinator and
    /// the client processes time every client alike.
    func testTheVirtualClockIsTheSameInEveryProcess() throws {
        let clock =
            "clock={seconds_per_sample: 0.002, speed: {median: 1, sigma: 1}, latency: 0.05, upload: 1.0e5, "
            + "download: {median: 1.0e6, sigma: 0.5}, availability: 0.8, deadline: 0.5, late: partial, "
            + "overcommit: 1.4}"
        let (reference, out) = try runInOneProcessAndAsACluster(["--set", clock, "--rounds", "6"], name: "clock")
        XCTAssertEqual(hashes(out), hashes(reference))
        let times = { (run: URL) in Fedsim.rounds(run).compactMap { $0["virtual_time"] as? Double } }
        XCTAssertEqual(times(out), times(reference))
        XCTAssertEqual(times(out).count, 7, "rounds 0-6 carry the virtual time")
        let cut = rounds(reference).compactMap { $0["stragglers"] as? Int }.reduce(0, +)
        XCTAssertGreaterThan(cut, 0, "the deadline cuts some clients' work")
    }

    /// A client process killed with SIGKILL mid-run: the rounds go on without its clients (quorum
    /// 0.5); restarted, it rejoins and restores its clients' persistent optimizer state.
    func testKilledClientIsDroppedAndRejoinsWithItsState() throws {
        let run = dir.appendingPathComponent("run")
        let endpoint = "ipc://\(dir.path)/k.ipc"
        let state = dir.appendingPathComponent("state").path
        let settings = [
            "--set", "rounds=40", "--set", "clients.local.epochs=8", "--set", "cluster.heartbeat_interval=0.1",
            "--set", "cluster.quorum=0.3", "--set", "cluster.round_timeout=30",
        ]
        let coordinator = try start(
            ["coordinator", quickstart, "--endpoint", endpoint, "--out", run.path] + settings, log: "coordinator.log")
        try start(
            ["client", quickstart, "--clients", "0-4", "--connect", endpoint, "--state-dir", state] + settings,
            log: "a.log")
        let b = try start(
            ["client", quickstart, "--clients", "5-9", "--connect", endpoint, "--state-dir", state] + settings,
            log: "b.log")
        try wait("round 3") { rounds(run).count >= 4 }
        kill(b.processIdentifier, SIGKILL)
        let killedAt = rounds(run).count
        try wait("the dead process to be noticed") { log("coordinator.log").contains("declared dead") }
        try wait("two rounds without it") { rounds(run).count >= killedAt + 2 }
        try start(
            ["client", quickstart, "--clients", "5-9", "--connect", endpoint, "--state-dir", state] + settings,
            log: "b2.log")
        try wait("the rejoin") { log("coordinator.log").contains("moved from an earlier process") }
        XCTAssertEqual(try finish(coordinator), 0, log("coordinator.log"))
        XCTAssertTrue(log("b2.log").contains("restored the optimizer state of"), log("b2.log"))
        XCTAssertTrue(log("b2.log").contains("joined the coordinator (connection 1) as clients 5-9"), log("b2.log"))
        XCTAssertTrue(log("b2.log").contains("the coordinator ended the run; leaving"), log("b2.log"))
        let records = rounds(run)
        XCTAssertEqual(records.count, 41)
        let counts = records.dropFirst().map { ($0["participants"] as? [Int])?.count ?? 0 }
        XCTAssertTrue(counts.contains { $0 < 5 }, "some rounds ran without the killed process: \(counts)")
        let after = records.last!["participants"] as? [Int] ?? []
        XCTAssertEqual(after.count, 5, "the last round has everyone back")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: state)) ?? []
        XCTAssertTrue(files.contains { $0.hasPrefix("states-5-9-") && $0.hasSuffix(".bin") }, "\(files)")
    }

    /// The coordinator killed with SIGKILL and resumed from its checkpoint reaches the same
    /// final weights as an uninterrupted run; the clients reconnect on their own.
    func testKilledCoordinatorResumesToTheSameWeights() throws {
        let settings = [
            "--set", "rounds=12", "--set", "clients.local.epochs=4", "--set", "cluster.heartbeat_interval=0.1",
        ]
        let reference = dir.appendingPathComponent("reference")
        XCTAssertEqual(
            try finish(start(["run", quickstart, "--out", reference.path, "--quiet"] + settings, log: "ref.log")), 0)
        let run = dir.appendingPathComponent("run")
        let endpoint = "ipc://\(dir.path)/r.ipc"
        let state = dir.appendingPathComponent("state").path
        let first = try start(
            ["coordinator", quickstart, "--endpoint", endpoint, "--out", run.path] + settings, log: "c1.log")
        let a = try start(
            ["client", quickstart, "--clients", "0-4", "--connect", endpoint, "--state-dir", state] + settings,
            log: "a.log")
        let b = try start(
            ["client", quickstart, "--clients", "5-9", "--connect", endpoint, "--state-dir", state] + settings,
            log: "b.log")
        try wait("round 4") { rounds(run).count >= 5 }
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let resumed = try start(["coordinator", "--resume", run.path, "--endpoint", endpoint], log: "c2.log")
        XCTAssertEqual(try finish(resumed), 0, log("c2.log") + log("a.log"))
        XCTAssertEqual(hashes(run), hashes(reference), "same weights after every round, resumed or not")
        XCTAssertEqual(rounds(run).map { $0["round"] as? Int ?? -1 }, Array(0...12))
        XCTAssertEqual(try finish(a), 0)
        XCTAssertEqual(try finish(b), 0)
    }

    /// Two hostile peers while a healthy cluster runs, and the run's numbers are exactly those of
    /// the single-process run:
    /// - one sends garbage, truncated, oversized, wrong-version, wrong-run and NaN frames: each is
    ///   rejected and counted;
    /// - one sends up to 30,000 HEARTBEATs of another run and never reads the ERROR replies (the
    ///   hang found by the security review): the coordinator drops what it cannot queue and keeps
    ///   serving the honest processes. (Before, it blocked for good in zmq_send once that peer's
    ///   queue was full.)
    func testHostilePeersDoNotHarmAHealthyRun() throws {
        let settings = ["--set", "rounds=30", "--set", "clients.local.epochs=3"]
        let reference = dir.appendingPathComponent("reference")
        XCTAssertEqual(
            try finish(start(["run", quickstart, "--out", reference.path, "--quiet"] + settings, log: "ref.log")), 0)
        let run = dir.appendingPathComponent("run")
        let endpoint = "ipc://\(dir.path)/h.ipc"
        let cluster = try start(
            ["cluster", quickstart, "--endpoint", endpoint, "--out", run.path] + settings, log: "cluster.log")
        try wait("the coordinator to bind") {
            FileManager.default.fileExists(atPath: run.appendingPathComponent("endpoint").path)
        }

        let topology = try Topology.load(
            file: quickstart, overrides: Array(settings.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)))
        let p = 64 * 32 + 32 + 32 * 10 + 10
        let fingerprint = try PreparedRun.prepare(topology).fingerprint
        let codec = WireCodec(fingerprint: fingerprint, parameterCount: p)
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, kind: .dealer)
        try socket.setRoutingID("hostile")
        try socket.connect(endpoint)
        var update = codec.encode(
            .update(
                ClientUpdate(
                    round: 1, clientID: 0, sampleCount: 5, delta: [Float](repeating: 0.1, count: p),
                    trainLoss: 0, steps: 1, state: nil))
        ).map(\.received)
        var nan = update
        nan[1].replaceSubrange(40..<44, with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian, Array.init))
        var wrongVersion = update
        wrongVersion[0][4] = 9
        let wrongRun = WireCodec(fingerprint: fingerprint ^ 1, parameterCount: p).encode(.heartbeat).map(\.received)
        update[1].removeLast(7)
        let garbage: [[Frame]] = [
            [Array("hello there, this is not FedSim".utf8)], [[0x46, 0x53]], nan, wrongVersion, wrongRun, update,
            codec.encode(.heartbeat).map(\.received),  // valid, but this peer never said HELLO
            [(0..<300).map { UInt8($0 % 251) }, [1, 2, 3]],
        ]
        for round in 0..<3 {
            for message in garbage { try socket.send(message.map { .bytes($0) }) }
            Thread.sleep(forTimeInterval: 0.05 * Double(round + 1))
        }
        // Oversized: more than ZMQ_MAXMSGSIZE; libzmq drops this connection before buffering it.
        try socket.send([
            .bytes(codec.encode(.heartbeat)[0].received),
            .bytes([UInt8](repeating: 7, count: Int(codec.maxFrameBytes) + 1)),
        ])
        // The flood: as fast as the coordinator takes them, for at most 30,000 messages or 20 s.
        let flood = try ZMQSocket(context: context, kind: .dealer)
        try flood.setRoutingID("flood")
        try flood.connect(endpoint)
        let foreignHeartbeat = WireCodec(fingerprint: 1, parameterCount: 1).encode(.heartbeat)
        var flooded = 0
        let deadline = Date().addingTimeInterval(20)
        while flooded < 30_000 && Date() < deadline && cluster.isRunning {
            if try flood.send(foreignHeartbeat, dontWait: true) {
                flooded += 1
            } else {
                Thread.sleep(forTimeInterval: 0.001)
            }
        }
        XCTAssertEqual(try finish(cluster, timeout: 60), 0, log("cluster.log"))
        XCTAssertEqual(hashes(run), hashes(reference))
        flood.close()
        let events = (try? String(contentsOf: run.appendingPathComponent("events.log"), encoding: .utf8)) ?? ""
        for reason in [
            "bad magic", "header truncated", "unsupported protocol version 9", "run fingerprint", "UPDATE delta has",
            "never said HELLO",
        ] {
            XCTAssertTrue(
                events.contains(reason) || log("cluster.log").contains(reason),
                "expected a rejection mentioning '\(reason)'")
        }
        XCTAssertTrue(events.contains("hostile"), "rejections name the peer")
        // The NaN update never enters a round: its sender never said HELLO (so it counts as an
        // unknown peer, with the valid heartbeat); the codec leaves values to UpdateValidator.
        let counts = try XCTUnwrap(RunSummary.load(from: run)?.counts)
        XCTAssertEqual(counts["rejected.bad_magic"], 6)
        XCTAssertEqual(counts["rejected.wrong_version"], 3)
        let foreign = (counts["rejected.wrong_run"] ?? 0) - 3  // the other three are the garbage's
        XCTAssertGreaterThan(foreign, 3000, "more of the flood than both queues hold: \(counts)")
        XCTAssertLessThanOrEqual(foreign, flooded)
        XCTAssertEqual(counts["rejected.unknown_peer"], 6)
        XCTAssertEqual(counts["rejected.bad_payload_length"], 3)
        XCTAssertNil(counts["rejected.non_finite"])
    }

    /// Whether `pid` is still a live process (a zombie counts as gone).
    func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        guard let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)] != "Z"
    }

    func childPIDs(_ run: URL) -> [Int32] {
        let events = (try? String(contentsOf: run.appendingPathComponent("events.log"), encoding: .utf8)) ?? ""
        return events.components(separatedBy: "pid ").dropFirst().compactMap { Int32($0.prefix { $0.isNumber }) }
    }

    /// Ctrl-C stops the cluster cleanly (exit 130, every finished round on disk, children gone);
    /// a SIGKILLed launcher leaves no orphans either: the client processes exit with their parent.
    func testInterruptAndKillLeaveNoOrphans() throws {
        for sig in [SIGINT, SIGKILL] {
            let run = dir.appendingPathComponent("run-\(sig)")
            let cluster = try start(
                [
                    "cluster", quickstart, "--out", run.path, "--set", "rounds=100000",
                    "--set", "cluster.heartbeat_interval=0.2",
                ], log: "cluster-\(sig).log")
            try wait("round 3") { rounds(run).count >= 4 }
            let children = childPIDs(run)
            XCTAssertEqual(children.count, 2, log("cluster-\(sig).log"))
            XCTAssertTrue(children.allSatisfy(alive))
            kill(cluster.processIdentifier, sig)
            let status = try finish(cluster)
            if sig == SIGINT {
                XCTAssertEqual(status, 130, log("cluster-\(sig).log"))
                XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("summary.json").path))
            }
            let records = rounds(run)
            XCTAssertEqual(
                records.map { $0["round"] as? Int ?? -1 }, Array(0..<records.count),
                "every line a whole round, in order")
            try wait("the client processes to exit", timeout: 10) { !children.contains(where: alive) }
        }
    }

    /// Missing clients and a missed quorum stop the run with one clear message and exit 1.
    func testJoinTimeoutAndQuorumFailureStopWithAClearMessage() throws {
        let endpoint = "ipc://\(dir.path)/q.ipc"
        let alone = try start(
            [
                "coordinator", quickstart, "--endpoint", endpoint, "--out", dir.appendingPathComponent("j").path,
                "--set", "cluster.join_timeout=1",
            ], log: "join.log")
        try start(
            [
                "client", quickstart, "--clients", "0-4", "--connect", endpoint, "--state-dir",
                dir.appendingPathComponent("s1").path,
            ], log: "j-a.log")
        XCTAssertEqual(try finish(alone), 1)
        XCTAssertTrue(
            log("join.log").contains("error: clients 5, 6, 7, 8, 9 did not join before cluster.join_timeout"),
            log("join.log"))

        let run = dir.appendingPathComponent("q")
        let settings = [
            "--set", "rounds=1000", "--set", "cluster.heartbeat_interval=0.1", "--set", "cluster.round_timeout=1",
            "--set", "cluster.on_quorum_failure=stop",
        ]
        let endpoint2 = "ipc://\(dir.path)/q2.ipc"
        let coordinator = try start(
            ["coordinator", quickstart, "--endpoint", endpoint2, "--out", run.path] + settings, log: "quorum.log")
        let a = try start(
            [
                "client", quickstart, "--clients", "0-4", "--connect", endpoint2, "--state-dir",
                dir.appendingPathComponent("s2").path,
            ] + settings, log: "q-a.log")
        let b = try start(
            [
                "client", quickstart, "--clients", "5-9", "--connect", endpoint2, "--state-dir",
                dir.appendingPathComponent("s2").path,
            ] + settings, log: "q-b.log")
        try wait("round 2") { rounds(run).count >= 3 }
        kill(b.processIdentifier, SIGKILL)
        XCTAssertEqual(try finish(coordinator), 1, log("quorum.log"))
        XCTAssertTrue(
            log("quorum.log").contains("the quorum needs 5 (cluster.quorum, cluster.retries)"), log("quorum.log"))
        XCTAssertEqual(try finish(a), 0, "the surviving client process was told to shut down")
        XCTAssertTrue(
            FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoint.bin").path), "resumable")
    }

    /// Two runs of the same topology sharing a --state-dir: the second must not restore the
    /// first run's optimizer states (snapshots are stamped with the run id), so both equal the
    /// single-process run.
    func testSnapshotsFromAnEarlierRunAreNotRestored() throws {
        let settings = ["--set", "rounds=4", "--set", "cluster.heartbeat_interval=0.2"]
        let reference = dir.appendingPathComponent("reference")
        XCTAssertEqual(
            try finish(start(["run", quickstart, "--out", reference.path, "--quiet"] + settings, log: "ref.log")), 0)
        let state = dir.appendingPathComponent("shared-state").path
        for attempt in 1...2 {
            let run = dir.appendingPathComponent("run\(attempt)")
            let endpoint = "ipc://\(dir.path)/s\(attempt).ipc"
            let coordinator = try start(
                ["coordinator", quickstart, "--endpoint", endpoint, "--out", run.path] + settings,
                log: "c\(attempt).log")
            let a = try start(
                ["client", quickstart, "--clients", "0-4", "--connect", endpoint, "--state-dir", state] + settings,
                log: "a\(attempt).log")
            let b = try start(
                ["client", quickstart, "--clients", "5-9", "--connect", endpoint, "--state-dir", state] + settings,
                log: "b\(attempt).log")
            XCTAssertEqual(try finish(coordinator), 0, log("c\(attempt).log"))
            XCTAssertEqual(try finish(a), 0)
            XCTAssertEqual(try finish(b), 0)
            XCTAssertEqual(hashes(run), hashes(reference), "run \(attempt)")
            XCTAssertFalse(log("a\(attempt).log").contains("restored"), log("a\(attempt).log"))
        }
    }
}
