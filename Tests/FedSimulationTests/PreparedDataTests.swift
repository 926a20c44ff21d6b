import FedCore
import FedData
import FedProtocol
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

    /// A client process keeps only its own clients' samples (`PreparedRun.hosting`): their shards
    /// hold the same samples in the same order, in a data set of their own; every other shard and
    /// the test set are empty; the fingerprint is the whole run's; and a hosted client trains to
    /// the same bits as in the whole run.
    func testAClientProcessKeepsOnlyItsOwnClientsSamples() throws {
        let whole = try PreparedRun.prepare(Topology.load(file: repo.path + "/Topologies/quickstart.yaml"))
        let ids = [2, 3, 7]
        let hosted = whole.hosting(ids)
        XCTAssertEqual(hosted.fingerprint, whole.fingerprint)
        XCTAssertEqual(hosted.fingerprintParts, whole.fingerprintParts)
        XCTAssertEqual(hosted.testSet.count, 0)
        XCTAssertEqual(hosted.shards.count, whole.shards.count)
        let own = ids.reduce(0) { $0 + whole.shards[$1].count }
        XCTAssertEqual(hosted.shards[2].base.count, own, "the pool holds the hosted samples only")
        XCTAssertLessThan(own, whole.shards[0].base.count / 2)
        for id in whole.shards.indices {
            if ids.contains(id) {
                XCTAssertEqual(hosted.shards[id].materialized(), whole.shards[id].materialized(), "client \(id)")
            } else {
                XCTAssertEqual(hosted.shards[id].count, 0, "client \(id) is not hosted")
            }
        }
        let task = ClientTask(round: 1, clientID: 3, globalWeights: whole.initialWeights, sharedState: nil)
        let a = try XCTUnwrap(whole.makeClients([3])[3]).train(task)
        let b = try XCTUnwrap(hosted.makeClients([3])[3]).train(task)
        XCTAssertEqual(a.delta, b.delta)
        XCTAssertEqual(a.trainLoss, b.trainLoss)
        XCTAssertEqual(a.sampleCount, b.sampleCount)
    }
}
