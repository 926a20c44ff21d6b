import FedCore
import FedData
import FedTopology
import Foundation
import XCTest

@testable import FedSimulation

/// A prepared run holds its training data once: every client's shard is a view into one pooled
/// data set, for pooled and for naturally split data, and the fingerprint hashes the same bytes
/// the copied shards did.
final class PreparedDataTests: XCTestCase {
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func prepared(_ yaml: String) throws -> PreparedRun {
        try PreparedRun.prepare(try Topology.parse(yaml, baseDirectory: repo.appendingPathComponent("Topologies").path))
    }

    func storage(_ view: DataView) -> UnsafePointer<Float>? {
        view.base.features.withUnsafeBufferPointer { $0.baseAddress }
    }

    func testEveryShardIsAViewIntoOneDataSet() throws {
        for (what, run) in [
            (
                "pooled, standardized",
                try PreparedRun.prepare(Topology.load(file: repo.path + "/Topologies/quickstart.yaml"))
            ),
            (
                "natural (FedProx)",
                try prepared(
                    """
                    data: {source: fedprox, alpha: 1, beta: 1, validation_fraction: 0.2, validation: per_client}
                    model: {kind: softmax}
                    clients: {count: 12, optimizer: {name: adamw}}
                    """)
            ),
        ] {
            let first = storage(run.shards[0])
            XCTAssertTrue(run.shards.allSatisfy { storage($0) == first }, "\(what): one storage for every shard")
            XCTAssertEqual(
                Set(run.shards.flatMap(\.rows)).count, run.shards.reduce(0) { $0 + $1.count },
                "\(what): no sample in two shards")
            for shard in run.shards {
                var view = FNV1a64()
                view.add(shard)
                var copy = FNV1a64()
                copy.add(shard.materialized())
                XCTAssertEqual(view.value, copy.value, "\(what): a view hashes as its copy")
            }
        }
    }
}
