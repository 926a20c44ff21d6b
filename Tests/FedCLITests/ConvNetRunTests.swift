import FedTestSupport
import Foundation
import XCTest

/// A conv net on Fashion-MNIST (a few hundred of its images), run the ways a user runs it: in
/// one process on one thread and on two, and as a local cluster over ZeroMQ, of two client
/// processes and of one process on two threads. Every round's weights are the same bits in all. Needs Debian's
/// dataset-fashion-mnist (`Scripts/install-deps.sh` installs it).
final class ConvNetRunTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("fedsim-cnn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// Round hashes from a run directory's rounds.jsonl.
    func roundHashes(_ run: URL) throws -> [String] {
        let text = try String(contentsOf: run.appendingPathComponent("rounds.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return try XCTUnwrap(object?["weights_hash"] as? String)
        }
    }

    func testLeNetOnFashionMNISTIsTheSameInOneProcessOnAnyThreadCountAndAsAClusterOfAnyShape() throws {
        let topology = dir.appendingPathComponent("fmnist.yaml")
        try """
        name: fmnist-small
        seed: 5
        rounds: 3
        data: {source: fashion-mnist, count: 400, test_count: 200, normalize: true}
        partition: {scheme: dirichlet, alpha: 0.5}
        model: {kind: cnn, preset: lenet5}
        clients:
          count: 8
          per_round: 4
          local: {epochs: 1, batch_size: 32}
          optimizer: {name: adamw, lr: 0.002, weight_decay: 0.01}
        cluster: {endpoint: auto, processes: 2, round_timeout: 120}
        """.write(to: topology, atomically: true, encoding: .utf8)
        var hashes: [String: [String]] = [:]
        for threads in ["1", "2"] {
            let out = dir.appendingPathComponent("run-\(threads)")
            let r = try Fedsim.run(["run", topology.path, "--out", out.path, "--quiet", "--threads", threads])
            XCTAssertEqual(r.status, 0, r.stderr)
            hashes[threads] = try roundHashes(out)
        }
        let out = dir.appendingPathComponent("cluster")
        let r = try Fedsim.run([
            "cluster", topology.path, "--out", out.path, "--endpoint", "ipc://\(dir.path)/c.ipc", "--quiet",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let cluster = try roundHashes(out)
        // One client process training its 8 clients on two threads.
        let threaded = dir.appendingPathComponent("cluster-threads")
        let t = try Fedsim.run([
            "cluster", topology.path, "--out", threaded.path, "--endpoint", "ipc://\(dir.path)/t.ipc", "--quiet",
            "--processes", "1", "--threads", "2",
        ])
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertEqual(try roundHashes(threaded), cluster, "a client process on two threads gives the same bits")
        XCTAssertEqual(hashes["1"]?.count, 4, "round 0 and three rounds")
        XCTAssertEqual(Set(hashes["1"]!).count, 4, "every round moves the weights")
        XCTAssertEqual(hashes["1"], hashes["2"], "one thread and two give the same bits")
        XCTAssertEqual(hashes["1"], cluster, "the cluster gives the same bits")
        // It learns: better than chance (0.1) and a lower test loss than the initial model's.
        let summary = Fedsim.summary(out)
        XCTAssertGreaterThan(try XCTUnwrap(summary["final_test_accuracy"] as? Double), 0.15, "\(summary)")
        let first = try String(contentsOf: out.appendingPathComponent("rounds.jsonl"), encoding: .utf8)
            .split(separator: "\n")[0]
        let initialLoss = try XCTUnwrap(
            (try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])?["test_loss"] as? Double)
        XCTAssertLessThan(try XCTUnwrap(summary["final_test_loss"] as? Double), initialLoss - 0.03)
    }

    /// Conv layers use fused multiply-adds: vfmadd on the AVX-512 and AVX2 paths, libm's fmaf on
    /// the portable one. FMA is one exact IEEE-754 operation, so all three give the same weights
    /// every round — also with glibc's own FMA code hidden, as on a CPU without it, where fmaf
    /// falls back to its exact software path (some 40 times slower, hence the small network).
    func testAConvNetGivesTheSameBitsOnEveryKernelPath() throws {
        let topology = dir.appendingPathComponent("paths.yaml")
        try """
        name: fmnist-paths
        seed: 6
        rounds: 2
        data: {source: fashion-mnist, count: 96, test_count: 32}
        model:
          kind: sequential
          layers:
            - {layer: conv2d, channels: 4, kernel: 5, stride: 2, padding: 2}
            - relu
            - {layer: maxpool2d, kernel: 2}
            - flatten
            - {layer: dense, units: 10}
        clients:
          count: 3
          per_round: 2
          local: {epochs: 1, batch_size: 16}
          optimizer: {name: adamw, lr: 0.002, weight_decay: 0.01}
        """.write(to: topology, atomically: true, encoding: .utf8)
        var hashes: [String: [String]] = [:]
        let environments: [(String, [String: String])] = [
            ("dispatched", [:]), ("avx2", ["FEDSIM_KERNEL": "avx"]),
            (
                "portable without FMA",
                ["FEDSIM_KERNEL": "portable", "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX"]
            ),
        ]
        for (name, environment) in environments {
            let out = dir.appendingPathComponent("run-\(hashes.count)")
            let r = try Fedsim.run(
                ["run", topology.path, "--out", out.path, "--quiet", "--threads", "1"], environment: environment)
            XCTAssertEqual(r.status, 0, r.stderr)
            hashes[name] = try roundHashes(out)
        }
        XCTAssertEqual(Set(hashes["dispatched"] ?? []).count, 3, "round 0 and two rounds that move the weights")
        XCTAssertEqual(hashes["avx2"], hashes["dispatched"])
        XCTAssertEqual(hashes["portable without FMA"], hashes["dispatched"])
    }

    /// A layer that does not fit the images is one line naming the layer, exit status 2.
    func testANetworkThatDoesNotFitTheImagesIsOneError() throws {
        let topology = dir.appendingPathComponent("bad.yaml")
        try """
        data: {source: fashion-mnist, count: 100, test_count: 50}
        model:
          kind: sequential
          layers: [{layer: conv2d, channels: 4, kernel: 29}, flatten, {layer: dense, units: 10}]
        clients: {count: 2, optimizer: {name: adamw}}
        """.write(to: topology, atomically: true, encoding: .utf8)
        let r = try Fedsim.run(["run", topology.path, "--out", dir.appendingPathComponent("bad").path])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(
            r.stderr.contains(
                "model.layers: layer 0 (conv2d): kernel 29 is larger than the input's height 28 (input 1×28×28)"),
            r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad").path))
    }
}
