import FedClient
import FedCore
import FedProtocol
import FedSimulation
import FedTopology
import Foundation
import XCTest

/// `model.batch_norm: local` (FedBN): each client trains with its own batch norms in place of
/// the global model's, keeps them in its persistent state, and starts a retried round from the
/// same ones again.
final class FedBNTests: XCTestCase {
    func topology(_ policy: String = "local", state: String = "persist", layers: String? = nil) throws -> Topology {
        try Topology.parse(
            """
            seed: 4
            rounds: 4
            data: {source: blobs, count: 600, features: 6, classes: 3, spread: 2}
            model:
              kind: sequential
              layers: \(layers ?? "[{layer: dense, units: 8}, batch_norm, relu, {layer: dense, units: 3}]")
              batch_norm: \(policy)
            clients: {count: 6, per_round: 3, state: \(state), optimizer: {name: adamw, lr: 0.05},
                      local: {epochs: 2, batch_size: 16}}
            """, baseDirectory: "/tmp")
    }

    func testAClientTrainsWithItsOwnBatchNormsAndKeepsThem() throws {
        let local = try PreparedRun.prepare(topology())
        let averaged = try PreparedRun.prepare(topology("averaged"))
        let ranges = local.localRanges
        XCTAssertEqual(ranges, [56..<88], "dense 6→8 (48 weights, 8 biases), then the batch norm's 4 × 8")
        XCTAssertEqual(averaged.localRanges, [])
        XCTAssertEqual(local.initialWeights, averaged.initialWeights)
        let isLocal = { (i: Int) in ranges.contains { $0.contains(i) } }

        let g1 = local.initialWeights
        let fedbn = local.makeClients([0])[0]!
        let plain = averaged.makeClients([0])[0]!
        let first = fedbn.train(ClientTask(round: 1, clientID: 0, globalWeights: g1, sharedState: nil))
        XCTAssertEqual(
            first.delta, plain.train(ClientTask(round: 1, clientID: 0, globalWeights: g1, sharedState: nil)).delta,
            "the first round starts from the global batch norms")
        let trained = zip(g1, first.delta).map { $0 + $1 }
        let stored = try XCTUnwrap(fedbn.persistentState?.transforms.last)
        XCTAssertEqual(stored.names, [ClientSetup.localTransformName])
        XCTAssertEqual(stored.storage, Array(trained[56..<88]), "the trained batch norm is kept")

        // Round 2 from a global model whose batch norm is something else entirely: the client
        // trains from its own. The same training from the global model with the client's batch
        // norm put in place (and the same optimizer state) moves every other weight the same way.
        let g2 = g1.enumerated().map { i, w in w + (isLocal(i) ? 0.5 : 0.01) }
        let second = fedbn.train(ClientTask(round: 2, clientID: 0, globalWeights: g2, sharedState: nil))
        var withOwn = g2
        withOwn.replaceSubrange(56..<88, with: stored.storage)
        let reference = plain.train(ClientTask(round: 2, clientID: 0, globalWeights: withOwn, sharedState: nil))
        for i in g2.indices where !isLocal(i) {
            XCTAssertEqual(second.delta[i], reference.delta[i], "weight \(i)")
        }
        let global = averaged.makeClients([0])[0]!
        _ = global.train(ClientTask(round: 1, clientID: 0, globalWeights: g1, sharedState: nil))
        let fromGlobal = global.train(ClientTask(round: 2, clientID: 0, globalWeights: g2, sharedState: nil))
        XCTAssertNotEqual(
            (0..<56).map { fromGlobal.delta[$0] }, (0..<56).map { second.delta[$0] },
            "training with the global batch norm instead moves the other weights differently")

        // A retried round 2 starts from the same batch norm (and optimizer state) again.
        let retried = fedbn.train(ClientTask(round: 2, clientID: 0, globalWeights: g2, sharedState: nil))
        XCTAssertEqual(retried.delta, second.delta)
    }

    func testARunKeepsItsNumbersThroughTheStateFileAndTheWriter() throws {
        let t = try topology()
        XCTAssertEqual(try Topology.parse(t.resolvedYAML(), baseDirectory: "/tmp").model.batchNorm, .local)
        XCTAssertFalse(try topology("averaged").resolvedYAML().contains("batch_norm: averaged"))
        let prepared = try PreparedRun.prepare(t)
        let inMemory = try InProcessRun.records(prepared).map(\.weightsHash)
        let averaged = try InProcessRun.records(PreparedRun.prepare(topology("averaged"))).map(\.weightsHash)
        XCTAssertEqual(inMemory.first, averaged.first)
        XCTAssertNotEqual(inMemory.last, averaged.last, "keeping batch norms local changes the run")
        XCTAssertNotEqual(
            prepared.fingerprint, try PreparedRun.prepare(topology("averaged")).fingerprint,
            "the policy is part of the numbers")
    }

    func testWhatCannotKeepBatchNormsLocalIsRefused() throws {
        for (t, message) in [
            (try topology(layers: "[{layer: dense, units: 8}, relu, {layer: dense, units: 3}]"), "the model has none"),
            (try topology(state: "reset"), "every client needs clients.state: persist (group 'default' has reset)"),
        ] {
            XCTAssertThrowsError(try PreparedRun.prepare(t)) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
            }
        }
        let out = URL(fileURLWithPath: "/tmp/fedsim-fedbn-export-\(UUID().uuidString)")
        XCTAssertThrowsError(try FederationExport.write(PreparedRun.prepare(topology()), clients: [0], to: out)) {
            XCTAssertTrue("\($0)".contains("not exported"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "nothing written")
        XCTAssertThrowsError(try topology("shared")) { error in
            XCTAssertTrue("\(error)".contains("'shared' is not one of: averaged, local"), "\(error)")
        }
    }
}
