import FedTestSupport
import Foundation
import XCTest

final class RunCLITests: XCTestCase {
    var dir: URL!
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("fedsim-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func rounds(_ run: URL) throws -> [[String: Any]] {
        try String(contentsOf: run.appendingPathComponent("rounds.jsonl"), encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    /// The README's first command, end to end: the quickstart runs, accuracy climbs, the metrics
    /// files are complete, and a second run gives the same weight hashes.
    func testQuickstartRunsAndIsReproducible() throws {
        let quickstart = repo.appendingPathComponent("Topologies/quickstart.yaml").path
        let out1 = dir.appendingPathComponent("a")
        let out2 = dir.appendingPathComponent("b")
        let r1 = try Fedsim.run(["run", quickstart, "--out", out1.path])
        XCTAssertEqual(r1.status, 0, r1.stderr)
        XCTAssertTrue(r1.stdout.contains("round 15/15"), r1.stdout)
        let records = try rounds(out1)
        XCTAssertEqual(records.count, 16, "round 0 plus 15 rounds")
        let first = try XCTUnwrap(records.first?["test_accuracy"] as? Double)
        let last = try XCTUnwrap(records.last?["test_accuracy"] as? Double)
        XCTAssertLessThan(first, 0.3)
        XCTAssertGreaterThan(last, 0.85, "test accuracy climbs")
        let csv = try String(contentsOf: out1.appendingPathComponent("rounds.csv"), encoding: .utf8).split(
            separator: "\n")
        XCTAssertEqual(csv.count, 17)
        XCTAssertTrue(csv[0].hasPrefix("round,test_loss,test_accuracy"))
        let clientLines = try String(contentsOf: out1.appendingPathComponent("clients.jsonl"), encoding: .utf8).split(
            separator: "\n")
        XCTAssertEqual(clientLines.count, 15 * 5)
        let weights = try Data(contentsOf: out1.appendingPathComponent("final_weights.f32"))
        XCTAssertEqual(weights.count, 4 * (64 * 32 + 32 + 32 * 10 + 10))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out1.appendingPathComponent("topology.yaml").path))

        let r2 = try Fedsim.run(["run", quickstart, "--out", out2.path, "--quiet"])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        XCTAssertEqual(
            try rounds(out1).map { $0["weights_hash"] as? String },
            try rounds(out2).map { $0["weights_hash"] as? String })

        // The resolved topology in the run directory runs again to the same weights.
        let out3 = dir.appendingPathComponent("c")
        let r3 = try Fedsim.run([
            "run", out1.appendingPathComponent("topology.yaml").path, "--out", out3.path, "--quiet",
        ])
        XCTAssertEqual(r3.status, 0, r3.stderr)
        XCTAssertEqual(try rounds(out3).last?["weights_hash"] as? String, records.last?["weights_hash"] as? String)
    }

    /// Flags and --set overrides change the run; a different seed changes the numbers.
    func testOverrides() throws {
        let quickstart = repo.appendingPathComponent("Topologies/quickstart.yaml").path
        let out = dir.appendingPathComponent("o")
        let r = try Fedsim.run([
            "run", quickstart, "--out", out.path, "--rounds", "2", "--seed", "5",
            "--set", "clients.optimizer.name=adam_l2", "--set", "clients.per_round=3", "--quiet",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let records = try rounds(out)
        XCTAssertEqual(records.count, 3)
        XCTAssertEqual((records[1]["participants"] as? [Int])?.count, 3)
        let resolved = try String(contentsOf: out.appendingPathComponent("topology.yaml"), encoding: .utf8)
        XCTAssertTrue(resolved.contains("name: adam_l2"))
        XCTAssertTrue(resolved.contains("seed: 5"))
    }

    /// Every bad topology gets one line naming the field and the allowed range, exit 2, and
    /// nothing is written.
    func testBadTopologiesGetOneClearLineAndWriteNothing() throws {
        let base = """
            name: t
            data: {source: blobs, count: 100}
            model: {kind: softmax}
            clients:
              count: 4
              optimizer: {name: adamw}

            """
        let cases: [(String, String)] = [
            (
                base.replacingOccurrences(of: "{name: adamw}", with: "{name: adamw, beta2: 1.2}"),
                "clients.optimizer.beta2: 1.2 is outside [0, 1)"
            ),
            (base + "rounds: 0\n", "rounds: 0 is outside [1, 1000000]"),
            (base + "roundz: 3\n", "roundz: unknown key (did you mean 'rounds'?)"),
            (
                base.replacingOccurrences(of: "count: 4", with: "count: 4\n  per_round: 9"),
                "clients.per_round: 9 is more than clients.count (4)"
            ),
            (
                base.replacingOccurrences(of: "softmax", with: "linear"),
                "model.kind: a linear (regression) model needs a regression task"
            ),
            (base + "partition: {scheme: dirichlet, alpha: -1}\n", "partition.alpha: -1 is outside (0, inf)"),
            (base + "partition: {scheme: shards, alpha: 1}\n", "'alpha' is not a setting of the shards partition"),
            (
                base.replacingOccurrences(of: "source: blobs, count: 100", with: "source: csv, path: nowhere.csv"),
                "nowhere.csv"
            ),
            (base + "server: {strategy: fedsgd}\n", "server.strategy: 'fedsgd' is not one of: fedavg"),
            (base + "clients2: {}\n", "clients2: unknown key"),
            ("name: [unclosed\n", "not valid YAML"),
            ("- a\n- b\n", "expected a mapping"),
            (base.replacingOccurrences(of: "model: {kind: softmax}", with: ""), "missing required section 'model'"),
            (
                base + "partition: {scheme: natural}\n",
                "the natural partition needs a data source that is split by client"
            ),
        ]
        for (i, (yaml, expected)) in cases.enumerated() {
            let file = dir.appendingPathComponent("bad\(i).yaml")
            try yaml.write(to: file, atomically: true, encoding: .utf8)
            let out = dir.appendingPathComponent("out\(i)")
            let r = try Fedsim.run(["run", file.path, "--out", out.path])
            XCTAssertEqual(r.status, 2, "\(expected): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(expected), "expected '\(expected)' in: \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "nothing written for \(expected)")
            let v = try Fedsim.run(["validate", file.path])
            XCTAssertEqual(v.status, 2)
        }
        let bad = try Fedsim.run([
            "run", repo.appendingPathComponent("Topologies/quickstart.yaml").path, "--set", "clients.optimizer",
        ])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("is not of the form key.path=value"), bad.stderr)
    }

    /// An endpoint that cannot be bound leaves no half-made run directory behind, so the same
    /// `--out` works on the next try (once, the directory blocked every retry).
    func testAnUnbindableEndpointLeavesNoRunDirectory() throws {
        let out = dir.appendingPathComponent("coordinated")
        for command in ["coordinator", "cluster"] {
            let r = try Fedsim.run([
                command, Fedsim.topology("quickstart.yaml"), "--endpoint", "ipc:///nonexistent-fedsim-dir/c.ipc",
                "--out", out.path,
            ])
            XCTAssertNotEqual(r.status, 0, command)
            XCTAssertTrue(r.stderr.contains("zmq_bind(ipc:///nonexistent-fedsim-dir/c.ipc)"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "\(command) left \(out.path)")
        }
    }

    /// `fedsim export` writes federation.json and the shards; what a foreign client cannot serve
    /// as documented is refused with one line and status 2, and an existing directory is kept.
    func testExportWritesTheFederationAndRefusesWhatItCannotServe() throws {
        let out = dir.appendingPathComponent("federation")
        let ok = try Fedsim.run(["export", Fedsim.topology("quickstart.yaml"), "--clients", "2-3,5", "--out", out.path])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let meta = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("federation.json")))
                as? [String: Any])
        XCTAssertEqual(meta["parameter_count"] as? Int, 2410)
        XCTAssertEqual((meta["clients"] as? [[String: Any]])?.map { $0["id"] as? Int }, [2, 3, 5])
        XCTAssertEqual(
            (meta["layout"] as? [[String: Any]])?.map { $0["name"] as? String },
            ["layer0.weight", "layer0.bias", "layer1.weight", "layer1.bias"])
        let npy = try Data(contentsOf: out.appendingPathComponent("client-2-features.npy"))
        XCTAssertEqual(Array(npy.prefix(8)), [0x93] + Array("NUMPY".utf8) + [1, 0])
        XCTAssertTrue(String(decoding: npy.prefix(128), as: UTF8.self).contains("'shape': (144, 64)"))
        XCTAssertEqual(npy.count, 128 + 144 * 64 * 4, "a 128-byte header, then the float32 values")
        for (extra, message) in [
            (["--out", out.path], "already exists"),
            (["--out", out.path + "-agg", "--set", "clients.state=aggregate"], "state: aggregate"),
            (["--out", out.path + "-big", "--clients", "12"], "client 12 is outside 0-9"),
        ] {
            let r = try Fedsim.run(["export", Fedsim.topology("quickstart.yaml"), "--clients", "0"] + extra)
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertTrue(r.stderr.contains(message), r.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path + "-agg"))
    }

    /// `optimizer list` names every setting with its default.
    func testOptimizerListShowsEveryDefault() throws {
        let r = try Fedsim.run(["optimizer", "list"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("settings: dampening=0, momentum=0.9, nesterov=true, weight_decay=0"), r.stdout)
        XCTAssertTrue(r.stdout.contains("amsgrad=true, beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0"), r.stdout)
        XCTAssertTrue(r.stdout.contains("decay_convention=lr_scaled, eps=1e-08, weight_decay=0.01"), r.stdout)
        XCTAssertFalse(r.stdout.contains("settings: alpha, "), "no setting without its default")
    }

    func testValidatePrintsTheResolvedTopology() throws {
        for name in [
            "quickstart", "digits-noniid", "digits-mixed", "quickstart-cluster", "cluster-10", "cluster-1000",
            "heterogeneous",
        ] {
            let r = try Fedsim.run(["validate", repo.appendingPathComponent("Topologies/\(name).yaml").path])
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("beta2: 0.999") && r.stdout.contains("cluster:"), r.stdout)
            XCTAssertTrue(r.stdout.split(separator: "\n").last!.hasPrefix("# valid: "), "a verdict line: \(r.stdout)")
        }
        let clock = try Fedsim.run(["validate", repo.appendingPathComponent("Topologies/heterogeneous.yaml").path])
        XCTAssertTrue(clock.stdout.contains("clock:\n") && clock.stdout.contains("late: partial"), clock.stdout)
        let quick = try Fedsim.run(["validate", repo.appendingPathComponent("Topologies/quickstart.yaml").path])
        XCTAssertTrue(quick.stdout.contains("# valid: 10 clients holding"), quick.stdout)
        let file = try Fedsim.run([
            "validate", repo.appendingPathComponent("Topologies/quickstart.yaml").path, "--no-data",
        ])
        XCTAssertTrue(file.stdout.hasSuffix("# valid as a file (data and model not checked: --no-data)\n"), file.stdout)
    }

    /// A model too large to hold is refused before anything is allocated, with one line
    /// (before: "Fatal error: failed to allocate" and a backtrace, in `validate` too).
    func testAnEnormousModelIsRefusedBeforeAllocating() throws {
        let quickstart = repo.appendingPathComponent("Topologies/quickstart.yaml").path
        for command in ["run", "validate"] {
            let out = command == "run" ? ["--out", dir.appendingPathComponent("big").path] : []
            let r = try Fedsim.run([command, quickstart, "--set", "model.hidden=[100000, 100000]"] + out)
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertTrue(r.stderr.contains("10007600010 parameters"), r.stderr)
            XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
        }
    }
}
