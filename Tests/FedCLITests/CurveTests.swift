import FedTestSupport
import Foundation
import XCTest

/// CURVE from the command line: keys, an encrypted run between real processes, strangers and
/// thieves kept out, and no plaintext run on a non-loopback address.
final class CurveTests: XCTestCase {
    var box: ProcessSandbox!
    var dir: URL { box.dir }

    override func setUpWithError() throws { box = try ProcessSandbox(prefix: "fedsim-curve") }
    override func tearDown() { box.close() }

    /// The quickstart with CURVE on an ipc:// endpoint of the sandbox.
    func topology(_ cluster: String) throws -> String {
        let path = dir.appendingPathComponent("t.yaml").path
        try """
        name: curve-quickstart
        seed: 42
        rounds: 15
        data: {source: csv, path: \(Fedsim.repository.path)/Topologies/data/digits.csv, test_fraction: 0.2,
               standardize: true}
        partition: {scheme: iid}
        model: {kind: mlp, hidden: [32]}
        clients:
          count: 10
          per_round: 5
          local: {epochs: 1, batch_size: 16}
          optimizer: {name: adamw, lr: 0.003, weight_decay: 0.01}
          state: persist
        cluster:
        \(cluster)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func generate(_ name: String) throws {
        let r = try Fedsim.run(["keys", "generate", name, "--dir", dir.appendingPathComponent("keys").path])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func testKeysGenerateWritesASecretAndAPublicFileAndNeverOverwrites() throws {
        try generate("site")
        let key = dir.appendingPathComponent("keys/site.key").path
        let pub = dir.appendingPathComponent("keys/site.pub").path
        let mode = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600, "the secret is readable by its owner only")
        let publicKey = try String(contentsOfFile: pub, encoding: .utf8).trimmingCharacters(in: .newlines)
        XCTAssertEqual(publicKey.count, 40)
        XCTAssertTrue(try String(contentsOfFile: key, encoding: .utf8).contains("public \(publicKey)\nsecret "))
        let again = try Fedsim.run(["keys", "generate", "site", "--dir", dir.appendingPathComponent("keys").path])
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.stderr.contains("already exists; FedSim never overwrites a key"), again.stderr)
    }

    /// Coordinator and two client processes with their own keys give the quickstart's numbers;
    /// a process with an unlisted key never gets in, and a listed key cannot claim another's ids.
    func testAnEncryptedRunGivesTheSameNumbersAndKeepsStrangersAndThievesOut() throws {
        for name in ["coordinator", "a", "b", "stranger"] { try generate(name) }
        try "a.pub 0-4\nb.pub 5-9   # site B\n".write(
            to: dir.appendingPathComponent("keys/clients.txt"), atomically: true, encoding: .utf8)
        let t = try topology(
            """
              endpoint: ipc://\(dir.path)/c.ipc
              join_timeout: 30
              curve: {coordinator: keys/coordinator.pub, clients: keys/clients.txt}
            """)
        let run = dir.appendingPathComponent("run")
        let coordinator = try box.start(
            ["coordinator", t, "--key", dir.appendingPathComponent("keys/coordinator.key").path, "--out", run.path],
            log: "coordinator.log")
        let key = { (name: String) in self.dir.appendingPathComponent("keys/\(name).key").path }
        try box.start(["client", t, "--clients", "0-4", "--key", key("a")], log: "a.log")
        let stranger = try Fedsim.run(["client", t, "--clients", "5-9", "--key", key("stranger")])
        XCTAssertEqual(stranger.status, 2, "an unlisted key gets nowhere, and says so: " + stranger.stderr)
        XCTAssertTrue(stranger.stderr.contains("the coordinator refused this process's CURVE key"), stranger.stderr)
        XCTAssertFalse(stranger.stderr.contains("WELCOME"), "the stranger was never welcomed")
        try box.wait("the stranger's key to be refused") {
            box.log("coordinator.log").contains("not on the allow-list")
        }
        let thief = try Fedsim.run(["client", t, "--clients", "0-4", "--key", key("b")])
        XCTAssertEqual(thief.status, 2, "a listed key claiming another's ids: " + thief.stderr)
        XCTAssertTrue(thief.stderr.contains("coordinator error 7"), thief.stderr)
        try box.start(["client", t, "--clients", "5-9", "--key", key("b")], log: "b.log")
        XCTAssertEqual(try box.finish(coordinator), 0, box.log("coordinator.log"))
        XCTAssertEqual(Fedsim.summary(run)["final_weights_hash"] as? String, "db103b07c6854ffb", "the quickstart's")
        let events = try String(contentsOf: run.appendingPathComponent("events.log"), encoding: .utf8)
        XCTAssertTrue(events.contains("may not hold clients 0-4"), events)
    }

    /// `fedsim cluster` makes its own keys for its processes and gets the same numbers.
    func testALocalClusterWithCurveMakesItsOwnKeys() throws {
        let t = try topology("  curve: {coordinator: keys/none-yet.pub}")
        let run = dir.appendingPathComponent("cluster")
        let r = try Fedsim.run(["cluster", t, "--out", run.path, "--endpoint", "ipc://\(dir.path)/l.ipc", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(Fedsim.summary(run)["final_weights_hash"] as? String, "db103b07c6854ffb")
        for name in ["coordinator", "clients-0", "clients-1"] {
            let file = run.appendingPathComponent("keys/\(name).key").path
            XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int, 0o600)
        }
    }

    /// Plaintext is for loopback only: a coordinator or client on another address without CURVE
    /// refuses to start (before binding or connecting anything), and leaves no run directory.
    func testAPlaintextRunOffLoopbackIsRefused() throws {
        let t = try topology("  join_timeout: 5")
        let out = dir.appendingPathComponent("plain")
        // 192.0.2.1 is TEST-NET-1 (RFC 5737): refused before anything binds or connects.
        let coordinator = try Fedsim.run(["coordinator", t, "--endpoint", "tcp://192.0.2.1:5999", "--out", out.path])
        XCTAssertEqual(coordinator.status, 2, coordinator.stderr)
        XCTAssertTrue(coordinator.stderr.contains("is not a loopback address: set cluster.curve"), coordinator.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        let client = try Fedsim.run(["client", t, "--clients", "0-9", "--connect", "tcp://192.0.2.1:5999"])
        XCTAssertEqual(client.status, 2, client.stderr)
        XCTAssertTrue(client.stderr.contains("is not a loopback address"), client.stderr)
    }
}

/// What a wiretap sees: a relay on 127.0.0.1 between a client process and the coordinator
/// records every byte. In the clear, FedSim's headers (`FSIM`, version 1) are there to read;
/// under CURVE, not one.
final class CurveWiretapTests: XCTestCase {
    var box: ProcessSandbox!
    override func setUpWithError() throws { box = try ProcessSandbox(prefix: "fedsim-tap") }
    override func tearDown() { box.close() }

    /// A TCP relay (Python, as a test tool): listens on a free 127.0.0.1 port (written to
    /// `port`), forwards to `target` and appends both directions' bytes to `capture`.
    static let relay = """
        import socket, sys, threading
        target, port_file, capture = sys.argv[1], sys.argv[2], sys.argv[3]
        host, port = target.rsplit(":", 1)
        server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0)); server.listen(8)
        open(port_file, "w").write(str(server.getsockname()[1]))
        lock = threading.Lock()
        def pipe(a, b):
            while True:
                data = a.recv(65536)
                if not data: break
                with lock:
                    with open(capture, "ab") as f: f.write(data)
                b.sendall(data)
        while True:
            client, _ = server.accept()
            upstream = socket.create_connection((host, int(port)))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()
        """

    /// Runs the quickstart (4 rounds) with one client process behind the relay; returns the capture.
    func capture(curve: Bool) throws -> [UInt8] {
        let dir = box.dir.appendingPathComponent(curve ? "curve" : "plain")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var cluster = "  join_timeout: 30\n"
        var coordinatorKey: [String] = []
        var clientKey: [String] = []
        if curve {
            let keys = dir.appendingPathComponent("keys").path
            for name in ["coordinator", "site"] {
                XCTAssertEqual(try Fedsim.run(["keys", "generate", name, "--dir", keys]).status, 0)
            }
            try "site.pub 0-9\n".write(toFile: keys + "/clients.txt", atomically: true, encoding: .utf8)
            cluster += "  curve: {coordinator: keys/coordinator.pub, clients: keys/clients.txt}\n"
            coordinatorKey = ["--key", keys + "/coordinator.key"]
            clientKey = ["--key", keys + "/site.key"]
        }
        let t = dir.appendingPathComponent("t.yaml").path
        try """
        seed: 42
        rounds: 4
        data: {source: csv, path: \(Fedsim.repository.path)/Topologies/data/digits.csv, standardize: true}
        model: {kind: mlp, hidden: [32]}
        clients: {count: 10, per_round: 5, optimizer: {name: adamw}}
        cluster:
        \(cluster)
        """.write(toFile: t, atomically: true, encoding: .utf8)
        let run = dir.appendingPathComponent("run")
        let coordinator = try box.start(
            ["coordinator", t, "--endpoint", "tcp://127.0.0.1:*", "--out", run.path] + coordinatorKey,
            log: "\(curve)-coordinator.log")
        let endpointFile = run.appendingPathComponent("endpoint").path
        try box.wait("the coordinator's endpoint") { FileManager.default.fileExists(atPath: endpointFile) }
        let target = try String(contentsOfFile: endpointFile, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "tcp://", with: "")
        let script = dir.appendingPathComponent("relay.py").path
        try Self.relay.write(toFile: script, atomically: true, encoding: .utf8)
        let portFile = dir.appendingPathComponent("port").path
        let captureFile = dir.appendingPathComponent("capture.bin").path
        let relay = Process()
        relay.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        relay.arguments = ["python3", script, target, portFile, captureFile]
        try relay.run()
        defer { relay.terminate() }
        try box.wait("the relay's port") { (try? String(contentsOfFile: portFile, encoding: .utf8))?.isEmpty == false }
        let port = try String(contentsOfFile: portFile, encoding: .utf8)
        try box.start(
            ["client", t, "--clients", "0-9", "--connect", "tcp://127.0.0.1:\(port)"] + clientKey,
            log: "\(curve)-client.log")
        XCTAssertEqual(try box.finish(coordinator), 0, box.log("\(curve)-coordinator.log"))
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: captureFile)))
    }

    func testCurveLeavesNothingToReadOnTheWire() throws {
        let header: [UInt8] = Array("FSIM".utf8) + [1, 0]
        func contains(_ bytes: [UInt8], _ needle: [UInt8]) -> Bool {
            guard bytes.count >= needle.count else { return false }
            return (0...(bytes.count - needle.count)).contains { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
        }
        let plain = try capture(curve: false)
        XCTAssertGreaterThan(plain.count, 100_000, "the relay saw the run")
        XCTAssertTrue(contains(plain, header), "in the clear, FedSim's headers are on the wire")
        let secret = try capture(curve: true)
        XCTAssertGreaterThan(secret.count, 100_000, "the relay saw the run")
        XCTAssertTrue(contains(secret, Array("CURVE".utf8)), "the ZMTP greeting names the CURVE mechanism")
        XCTAssertFalse(contains(secret, header), "under CURVE no FedSim header is readable")
    }
}
