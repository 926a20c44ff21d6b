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
        try box.start(["client", t, "--clients", "5-9", "--key", key("stranger")], log: "stranger.log")
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
        XCTAssertFalse(box.log("stranger.log").contains("WELCOME"), "the stranger was never welcomed")
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
