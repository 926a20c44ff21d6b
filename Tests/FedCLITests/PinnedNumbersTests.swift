import FedTestSupport
import Foundation
import XCTest

/// Known final weight hashes. Every restructuring must leave them as they are; a change that
/// moves them changes FedSim's numbers and must say so (and update them here, in one commit).
///
/// They hold on every CPU: products go through FedSim's own kernel (`Sources/CFedKernels`),
/// which sums in a fixed order without fused multiply-adds on every path. The test runs the
/// quickstart once more on the portable path with glibc's AVX/AVX2/FMA code paths turned off —
/// what an older CPU would run — and requires the same bits.
final class PinnedNumbersTests: XCTestCase {
    static let quickstart = "db103b07c6854ffb"
    /// Quickstart, aggregate policy with AMSGrad, 6 rounds.
    static let aggregateAMSGrad = "b52b90d7b87776d7"
    /// The quickstart under Adam+L2 with seed 3 and 4 rounds, as one row of a comparison.
    static let compareRow = "19cb8ed1c677866f"

    var dir: URL!

    override func setUpWithError() throws {
        dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("fedsim-pin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func finalHash(_ run: URL) -> String? { Fedsim.summary(run)["final_weights_hash"] as? String }

    func testQuickstartInOneProcess() throws {
        let out = dir.appendingPathComponent("qs")
        let r = try Fedsim.run(["run", Fedsim.topology("quickstart.yaml"), "--out", out.path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(finalHash(out), Self.quickstart)
    }

    func testQuickstartAsACluster() throws {
        let out = dir.appendingPathComponent("cluster")
        let r = try Fedsim.run([
            "cluster", Fedsim.topology("quickstart-cluster.yaml"), "--out", out.path,
            "--endpoint", "ipc://\(dir.path)/c.ipc", "--quiet",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(finalHash(out), Self.quickstart)
    }

    func testAggregatePolicy() throws {
        let out = dir.appendingPathComponent("agg")
        let r = try Fedsim.run([
            "run", Fedsim.topology("quickstart.yaml"), "--out", out.path, "--quiet", "--rounds", "6",
            "--set", "clients.state=aggregate", "--set", "clients.optimizer.name=amsgrad",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(finalHash(out), Self.aggregateAMSGrad)
    }

    func testCompareRow() throws {
        let spec = dir.appendingPathComponent("spec.yaml")
        try """
        name: pin
        base: \(Fedsim.topology("quickstart.yaml"))
        seeds: [3]
        set: {rounds: 4}
        variants:
          - {name: adam_l2, set: {clients.optimizer.name: adam_l2}}
        """.write(to: spec, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("cmp")
        let r = try Fedsim.run(["compare", spec.path, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(finalHash(out.appendingPathComponent("runs/v01-adam_l2/seed-3")), Self.compareRow)
    }

    /// What another CPU would compute: the portable kernel path, and glibc told that the CPU has
    /// no AVX, AVX2 or FMA (so its libm takes its SSE2 code paths too).
    func testSameBitsWithoutAVXOrFMA() throws {
        let out = dir.appendingPathComponent("portable")
        let r = try Fedsim.run(
            ["run", Fedsim.topology("quickstart.yaml"), "--out", out.path, "--quiet"],
            environment: ["FEDSIM_KERNEL": "portable", "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(finalHash(out), Self.quickstart)
    }

    /// The 8-lane AVX path where the CPU has AVX-512 (the default path there is 16 lanes wide).
    func testSameBitsOnTheAVXPath() throws {
        let out = dir.appendingPathComponent("avx")
        let r = try Fedsim.run(
            ["run", Fedsim.topology("quickstart.yaml"), "--out", out.path, "--quiet"],
            environment: ["FEDSIM_KERNEL": "avx"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(finalHash(out), Self.quickstart)
    }
}
