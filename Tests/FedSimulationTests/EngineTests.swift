import FedCoordinator
import FedOptim
import FedProtocol
import FedSimulation
import FedStrategy
import FedTopology
import Foundation
import XCTest

/// A small, fast topology on synthetic blobs (no files needed).
func blobsTopology(_ extra: String = "", state: String = "persist", optimizer: String = "adamw") throws -> Topology {
    try Topology.parse(
        """
        name: blobs
        seed: 3
        rounds: 4
        data: {source: blobs, count: 400, features: 5, classes: 3, spread: 2.0}
        partition: {scheme: dirichlet, alpha: 0.5}
        model: {kind: softmax}
        clients:
          count: 8
          per_round: 4
          local: {epochs: 1, batch_size: 10}
          optimizer: {name: \(optimizer), lr: 0.01, weight_decay: 0.05}
          state: \(state)
        \(extra)
        """, baseDirectory: "/tmp")
}

final class EngineTests: XCTestCase {
    /// Same topology and seed ⇒ bit-identical weights after every round.
    func testSameSeedGivesBitIdenticalRounds() throws {
        let t = try blobsTopology()
        let a = try InProcessRun.records(PreparedRun.prepare(t))
        let b = try InProcessRun.records(PreparedRun.prepare(t))
        XCTAssertEqual(a.map(\.weightsHash), b.map(\.weightsHash))
        XCTAssertEqual(Set(a.map(\.weightsHash)).count, a.count, "every round changes the weights")
        var other = t
        other.seed = 4
        let c = try InProcessRun.records(PreparedRun.prepare(other))
        XCTAssertNotEqual(a.last!.weightsHash, c.last!.weightsHash)
    }

    /// The sample for round r depends only on (seed, r); counts and ordering are right.
    func testSamplerIsAFunctionOfSeedAndRound() {
        let s = ClientSampler(seed: 9, clientCount: 100, perRound: 10)
        XCTAssertEqual(s.sample(round: 5), ClientSampler(seed: 9, clientCount: 100, perRound: 10).sample(round: 5))
        XCTAssertNotEqual(s.sample(round: 5), s.sample(round: 6))
        for r in 1...50 {
            let ids = s.sample(round: r)
            XCTAssertEqual(ids.count, 10)
            XCTAssertEqual(ids, ids.sorted())
            XCTAssertEqual(Set(ids).count, 10)
            XCTAssertTrue(ids.allSatisfy { (0..<100).contains($0) })
        }
        // Over many rounds every client gets picked about equally often.
        var counts = [Int](repeating: 0, count: 100)
        for r in 1...2000 { for id in s.sample(round: r) { counts[id] += 1 } }
        XCTAssertTrue(counts.allSatisfy { (140...260).contains($0) }, "\(counts.min()!)...\(counts.max()!)")
    }

    /// FedAvg sums in client-id order and in Double: the result does not depend on the order
    /// updates arrive in, and equals the weighted mean worked out by hand.
    func testFedAvgIsOrderIndependentAndWeighted() {
        func update(_ id: Int, _ n: Int, _ d: [Float]) -> ClientUpdate {
            ClientUpdate(round: 1, clientID: id, sampleCount: n, delta: d, trainLoss: 0, steps: 1, state: nil)
        }
        let updates = [update(2, 30, [1e8, 1]), update(0, 10, [1, -2]), update(1, 60, [-1e8, 0.5])]
        let mean = Aggregation.weightedMeanDelta(updates)
        let expected0: Double = (10.0 + 30e8 - 60e8) / 100
        let expected1: Double = (-20.0 + 30.0 + 30.0) / 100
        XCTAssertEqual(mean[0], expected0)
        XCTAssertEqual(mean[1], expected1)
        for permutation in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
            XCTAssertEqual(Aggregation.weightedMeanDelta(permutation.map { updates[$0] }), mean)
        }
        var w: [Float] = [1, 1]
        Aggregation.apply(mean, to: &w, serverLR: 0.5)
        XCTAssertEqual(w[1], Float(1 + 0.5 * mean[1]))
    }

    /// Client drift, by hand: deltas [2, 0] (1 sample) and [0, 0] (3 samples) have the weighted
    /// mean [0.5, 0]; their distances from it are 1.5 and 0.5, so the drift is their mean, 1.
    func testClientDriftIsTheMeanDistanceFromTheWeightedMeanDelta() throws {
        let prepared = try PreparedRun.prepare(blobsTopology())
        final class FixedPool: ClientPool {
            func train(_ tasks: [ClientTask]) throws -> [ClientUpdate] {
                tasks.map { task in
                    var delta = [Float](repeating: 0, count: task.globalWeights.count)
                    if task.clientID == 0 { delta[0] = 2 }
                    return ClientUpdate(
                        round: task.round, clientID: task.clientID, sampleCount: task.clientID == 0 ? 1 : 3,
                        delta: delta, trainLoss: 0, steps: 1, state: nil)
                }
            }
        }
        let t = prepared.topology
        let engine = RoundEngine(
            model: prepared.model, testSet: prepared.testSet, initialWeights: prepared.initialWeights,
            sampler: ClientSampler(seed: t.seed, clientCount: 2, perRound: 2), server: t.server,
            groupOfClient: [0, 0], policyOfGroup: [.persist], pool: FixedPool())
        XCTAssertNil(engine.initialRecord().clientDrift)
        XCTAssertEqual(try XCTUnwrap(try engine.runRound(1).record.clientDrift), 1, accuracy: 1e-12)
    }

    /// A round's `seconds` covers the whole round: here an observer before the log (standing in
    /// for a slow checkpoint) takes 50 ms of a round whose training takes about 1 ms, and the
    /// logged seconds include it (before, they stopped before evaluation, logs and checkpoint).
    func testRoundSecondsIncludeWhatTheCheckpointAndLogsTake() throws {
        let prepared = try PreparedRun.prepare(blobsTopology())
        final class SlowObserver: RunObserver {
            func runStarted(from record: RoundRecord, resumed: Bool, engine: RoundEngine) throws {}
            func roundFinished(_ outcome: RoundOutcome, engine: RoundEngine) throws { usleep(50_000) }
        }
        let clients = prepared.makeClients(0..<prepared.topology.clients.count)
        let collector = RecordCollector()
        let driver = try RunDriver(
            prepared: prepared, pool: InProcessPool(clients: (0..<8).map { clients[$0]! }), mode: .inProcess,
            resume: nil, events: EventLog(file: nil, prefix: "run", echo: false),
            observers: [SlowObserver(), collector])
        _ = try driver.run()
        for record in collector.records.dropFirst() {
            XCTAssertGreaterThanOrEqual(record.seconds, 0.05, "\(record.round)")
        }
    }

    /// A pool that returns updates in reverse order gives the same weights as the direct one.
    func testArrivalOrderDoesNotChangeTheWeights() throws {
        let prepared = try PreparedRun.prepare(blobsTopology())
        let direct = try InProcessRun.records(prepared)
        final class ReversingPool: ClientPool {
            let inner: InProcessPool
            init(_ inner: InProcessPool) { self.inner = inner }
            func train(_ tasks: [ClientTask]) throws -> [ClientUpdate] { try inner.train(tasks.reversed()).reversed() }
        }
        let t = prepared.topology
        let clients = prepared.makeClients(0..<t.clients.count)
        let engine = RoundEngine(
            model: prepared.model, testSet: prepared.testSet, initialWeights: prepared.initialWeights,
            sampler: ClientSampler(seed: t.seed, clientCount: 8, perRound: 4), server: t.server,
            groupOfClient: prepared.groupOfClient, policyOfGroup: prepared.groups.map(\.state),
            pool: ReversingPool(InProcessPool(clients: (0..<8).map { clients[$0]! })))
        var hashes = [engine.initialRecord().weightsHash]
        for r in 1...t.rounds { hashes.append(try engine.runRound(r).record.weightsHash) }
        XCTAssertEqual(hashes, direct.map(\.weightsHash))
    }

    /// A client that claims more samples than its shard holds buys no larger share of the average:
    /// its update is left out and counted (once, a claim of 100,000 samples cut accuracy from
    /// 0.972 to 0.607), and the others' rounds go on.
    func testAnUpdateClaimingMoreSamplesThanItsShardIsLeftOut() throws {
        let prepared = try PreparedRun.prepare(blobsTopology())
        final class InflatingPool: ClientPool {
            let inner: InProcessPool
            init(_ inner: InProcessPool) { self.inner = inner }
            func train(_ tasks: [ClientTask]) throws -> [ClientUpdate] {
                try inner.train(tasks).map { update in
                    var u = update
                    if u.clientID == 0 { u.sampleCount = 100_000 }
                    return u
                }
            }
        }
        let clients = prepared.makeClients(0..<prepared.topology.clients.count)
        let pool = InflatingPool(InProcessPool(clients: (0..<8).map { clients[$0]! }))
        let collector = RecordCollector()
        let driver = try RunDriver(
            prepared: prepared, pool: pool, mode: .inProcess, resume: nil,
            events: EventLog(file: nil, prefix: "run", echo: false), observers: [collector])
        let result = try driver.run()
        let rounds = collector.records.dropFirst()
        XCTAssertTrue(rounds.contains { $0.participants.count < prepared.topology.clients.perRound })
        XCTAssertFalse(rounds.contains { $0.participants.contains(0) }, "client 0's inflated updates never count")
        XCTAssertGreaterThan(result.summary.counts["rejected.invalid_field"] ?? 0, 0, "\(result.summary.counts)")
    }

    /// persist keeps a client's state across its rounds, reset starts fresh every round, and
    /// aggregate hands back the sample-weighted average of the participants' moments.
    func testStatePolicies() throws {
        let prepared = try PreparedRun.prepare(blobsTopology())
        let persist = prepared.makeClients([0])[0]!
        let w = prepared.initialWeights
        _ = persist.train(ClientTask(round: 1, clientID: 0, globalWeights: w, sharedState: nil))
        let steps = persist.persistentState!.step
        XCTAssertGreaterThan(steps, 0)
        _ = persist.train(ClientTask(round: 2, clientID: 0, globalWeights: w, sharedState: nil))
        XCTAssertEqual(persist.persistentState!.step, 2 * steps, "persist continues the step counter")

        let resetRun = try PreparedRun.prepare(blobsTopology(state: "reset"))
        let reset = resetRun.makeClients([0])[0]!
        let first = reset.train(ClientTask(round: 1, clientID: 0, globalWeights: w, sharedState: nil))
        let second = reset.train(ClientTask(round: 1, clientID: 0, globalWeights: w, sharedState: nil))
        XCTAssertEqual(first.delta, second.delta, "reset: the same task twice gives the same delta")
        XCTAssertNil(reset.persistentState)
        // With persist, the second identical task starts from the kept moments: a different delta.
        let p2 = prepared.makeClients([0])[0]!
        let a = p2.train(ClientTask(round: 1, clientID: 0, globalWeights: w, sharedState: nil))
        let b = p2.train(ClientTask(round: 2, clientID: 0, globalWeights: w, sharedState: nil))
        XCTAssertNotEqual(a.delta, b.delta)
        // Repeating round 2 (a retried round) starts from the state before round 2 again.
        let again = p2.train(ClientTask(round: 2, clientID: 0, globalWeights: w, sharedState: nil))
        XCTAssertEqual(b.delta, again.delta)
        let c = p2.train(ClientTask(round: 3, clientID: 0, globalWeights: w, sharedState: nil))
        XCTAssertNotEqual(c.delta, b.delta)

        let aggRun = try PreparedRun.prepare(blobsTopology(state: "aggregate"))
        let clients = aggRun.makeClients([0, 1])
        let u0 = clients[0]!.train(ClientTask(round: 1, clientID: 0, globalWeights: w, sharedState: nil))
        let u1 = clients[1]!.train(ClientTask(round: 1, clientID: 1, globalWeights: w, sharedState: nil))
        let averaged = try XCTUnwrap(Aggregation.averageStates([u1, u0]))
        let m0 = u0.state!.buffer(named: "m")!
        let m1 = u1.state!.buffer(named: "m")!
        let n0 = Double(u0.sampleCount)
        let n1 = Double(u1.sampleCount)
        for i in [0, 7, m0.count - 1] {
            XCTAssertEqual(
                averaged.buffer(named: "m")![i], Float((n0 * Double(m0[i]) + n1 * Double(m1[i])) / (n0 + n1)))
        }
        XCTAssertEqual(averaged.step, max(u0.state!.step, u1.state!.step))
        // The next round starts from the shared state.
        let u0b = clients[0]!.train(ClientTask(round: 2, clientID: 0, globalWeights: w, sharedState: averaged))
        XCTAssertEqual(u0b.state!.step, averaged.step + u0b.steps)
    }

    /// A topology whose groups give half the clients AdamW and half Adam+L2.
    func testGroupsGiveClientsDifferentOptimizers() throws {
        let t = try blobsTopology(
            """
            server: {strategy: fedavg, lr: 1.0}
            """)
        var mixed = t
        mixed.clients.groups = [
            Topology.ClientGroup(name: "l2", clients: 4...7, optimizer: OptimizerSpec(.adamL2), state: .reset)
        ]
        let prepared = try PreparedRun.prepare(mixed)
        let clients = prepared.makeClients(0..<8)
        XCTAssertEqual(clients[0]!.optimizer.spec.name, .adamw)
        XCTAssertEqual(clients[5]!.optimizer.spec.name, .adamL2)
        XCTAssertEqual(clients[5]!.policy, .reset)
        let records = try InProcessRun.records(prepared)
        XCTAssertEqual(records.count, 5)
    }

    /// Local training for K steps or E epochs, mini-batch or full batch.
    func testLocalTrainingLength() throws {
        for (local, expectedSteps) in [("{steps: 7, batch_size: 5}", 7), ("{epochs: 2, batch_size: full}", 2)] {
            let prepared = try PreparedRun.prepare(blobsTopology().withOverride("clients.local=\(local)"))
            let client = prepared.makeClients([2])[2]!
            let u = client.train(
                ClientTask(round: 1, clientID: 2, globalWeights: prepared.initialWeights, sharedState: nil))
            XCTAssertEqual(u.steps, expectedSteps)
            XCTAssertEqual(u.sampleCount, prepared.shards[2].count)
        }
        let prepared = try PreparedRun.prepare(blobsTopology().withOverride("clients.local={epochs: 3, batch_size: 4}"))
        let n = prepared.shards[1].count
        let u = prepared.makeClients([1])[1]!.train(
            ClientTask(round: 1, clientID: 1, globalWeights: prepared.initialWeights, sharedState: nil))
        XCTAssertEqual(u.steps, 3 * ((n + 3) / 4))
    }

    /// The federation learns: blobs are separable, so accuracy climbs well above chance.
    func testFederationLearns() throws {
        let records = try InProcessRun.records(PreparedRun.prepare(blobsTopology().withOverride("rounds=10")))
        XCTAssertLessThan(records.last!.testLoss, records[0].testLoss)
        XCTAssertGreaterThan(records.last!.testAccuracy!, 0.8)
        XCTAssertEqual(records[1].participants.count, 4)
    }

    /// Linear regression with full-batch GD + L2 on one client reaches the ridge solution's fit.
    func testRegressionRunReportsRMSEAndR2() throws {
        let t = try Topology.parse(
            """
            rounds: 20
            data: {source: linear_regression, count: 500, features: 4, noise: 0.1}
            model: {kind: linear}
            clients:
              count: 2
              local: {epochs: 5, batch_size: full}
              optimizer: {name: sgd, lr: 0.2}
            """, baseDirectory: "/tmp")
        let records = try InProcessRun.records(PreparedRun.prepare(t))
        XCTAssertNil(records.last!.testAccuracy)
        XCTAssertGreaterThan(records.last!.testR2!, 0.98)
        XCTAssertLessThan(records.last!.testRMSE!, 0.2)
    }
}

extension Topology {
    func withOverride(_ assignment: String) throws -> Topology {
        try Topology.parse(resolvedYAML(), baseDirectory: baseDirectory, overrides: [assignment])
    }
}
