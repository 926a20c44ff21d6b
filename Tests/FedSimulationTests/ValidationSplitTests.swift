import FedClient
import FedCoordinator
import FedData
import FedModels
import FedSimulation
import FedTopology
import XCTest

/// `data.validation_fraction` and the two seeds: validation is held out from training only
/// (the test set stays what it was), stratified and seeded from `data_seed`; `data_seed` moves
/// the data and nothing else, `train_seed` moves training and nothing else.
final class ValidationSplitTests: XCTestCase {
    func topology(_ extra: String = "", data: String = "") throws -> Topology {
        try Topology.parse(
            """
            seed: 5
            rounds: 3
            \(extra)
            data: {source: blobs, count: 1000, features: 4, classes: 4, spread: 2\(data)}
            model: {kind: softmax}
            clients: {count: 6, per_round: 3, optimizer: {name: adamw, lr: 0.05}}
            """, baseDirectory: "/tmp")
    }

    func rows(_ d: Dataset) -> Set<[Float]> {
        Set((0..<d.count).map { Array(d.features[($0 * d.featureCount)..<(($0 + 1) * d.featureCount)]) })
    }
    func rows(_ v: DataView) -> Set<[Float]> { rows(v.materialized()) }

    func testPooledValidationComesOutOfTrainingOnlyStratifiedAndSeeded() throws {
        let plain = try PreparedRun.prepare(try topology())
        let held = try PreparedRun.prepare(try topology(data: ", validation_fraction: 0.25"))
        XCTAssertNil(plain.validationSet)
        let validation = try XCTUnwrap(held.validationSet)
        XCTAssertEqual(held.testSet, plain.testSet, "the test set does not move")
        XCTAssertEqual(plain.shards.reduce(0) { $0 + $1.count }, 800)
        XCTAssertEqual(validation.count, 200)
        XCTAssertEqual(held.shards.reduce(0) { $0 + $1.count }, 600)
        // Stratified: 1000 blobs are 250 per class, 200 per class after the test split, 50 held out.
        XCTAssertEqual((0..<4).map { c in validation.labels!.filter { $0 == c }.count }, [50, 50, 50, 50])
        let training = held.shards.reduce(into: Set<[Float]>()) { $0.formUnion(rows($1)) }
        XCTAssertTrue(rows(validation).isDisjoint(with: training), "no validation sample is trained on")
        XCTAssertTrue(rows(validation).isDisjoint(with: rows(held.testSet)))
        XCTAssertEqual(
            training.union(rows(validation)), plain.shards.reduce(into: Set<[Float]>()) { $0.formUnion(rows($1)) })
        XCTAssertNotEqual(held.fingerprint, plain.fingerprint)

        let records = try InProcessRun.records(held)
        XCTAssertEqual(records.count, 4)
        for r in records {
            let v = try XCTUnwrap(r.validationAccuracy)
            XCTAssertTrue((0...1).contains(v))
            XCTAssertNotNil(r.validationLoss)
        }
        XCTAssertNil(try InProcessRun.records(plain).last!.validationAccuracy)
        // The record's validation accuracy is the model's on that set.
        XCTAssertNotEqual(records.last!.validationAccuracy, records[0].validationAccuracy)
    }

    func testPerClientValidationHoldsOutOfEveryShard() throws {
        let plain = try PreparedRun.prepare(try topology())
        let held = try PreparedRun.prepare(try topology(data: ", validation_fraction: 0.2, validation: per_client"))
        let validation = try XCTUnwrap(held.validationSet)
        for (a, b) in zip(plain.shards, held.shards) {
            XCTAssertLessThan(b.count, a.count)
            XCTAssertTrue(rows(b).isSubset(of: rows(a)))
        }
        XCTAssertEqual(
            validation.count + held.shards.reduce(0) { $0 + $1.count }, plain.shards.reduce(0) { $0 + $1.count })
        XCTAssertEqual(Double(validation.count), 160, accuracy: 8)
        XCTAssertThrowsError(
            try Topology.parse(
                """
                data: {source: fedprox, validation_fraction: 0.1, validation: pooled}
                model: {kind: softmax}
                clients: {count: 3, optimizer: {name: sgd}}
                """, baseDirectory: "/tmp")
        ) { XCTAssertTrue("\($0)".contains("data.validation: fedprox data is split by client"), "\($0)") }
        XCTAssertThrowsError(try topology(data: ", validation_fraction: 0.6")) {
            XCTAssertTrue("\($0)".contains("data.validation_fraction"), "\($0)")
        }
    }

    func testDataSeedMovesOnlyTheDataAndTrainSeedOnlyTraining() throws {
        let base = try PreparedRun.prepare(try topology())
        let trainOnly = try PreparedRun.prepare(try topology("train_seed: 99"))
        let dataOnly = try PreparedRun.prepare(try topology("data_seed: 99"))
        XCTAssertEqual(trainOnly.shards, base.shards)
        XCTAssertEqual(trainOnly.testSet, base.testSet)
        XCTAssertNotEqual(trainOnly.initialWeights, base.initialWeights)
        XCTAssertNotEqual(dataOnly.shards, base.shards)
        XCTAssertEqual(dataOnly.initialWeights, base.initialWeights)
        // Giving both as the seed itself is the plain topology, bit for bit.
        let explicit = try PreparedRun.prepare(try topology("data_seed: 5\ntrain_seed: 5"))
        XCTAssertEqual(explicit.shards, base.shards)
        XCTAssertEqual(explicit.initialWeights, base.initialWeights)
        XCTAssertEqual(
            try InProcessRun.records(explicit).last!.weightsHash, try InProcessRun.records(base).last!.weightsHash)
        // Client sampling follows the train seed.
        let sampled = try InProcessRun.records(trainOnly).map(\.participants)
        XCTAssertNotEqual(sampled, try InProcessRun.records(base).map(\.participants))
        XCTAssertEqual(
            try InProcessRun.records(dataOnly).map(\.participants), try InProcessRun.records(base).map(\.participants))
        // Written back and read again.
        let t = try topology("data_seed: 3\ntrain_seed: 4", data: ", validation_fraction: 0.1")
        let again = try Topology.parse(t.resolvedYAML(), baseDirectory: "/tmp")
        XCTAssertEqual(again, t)
        XCTAssertEqual(again.dataSeed, 3)
        XCTAssertEqual(again.trainSeed, 4)
    }
}

/// The opt-in per-round metrics, recomputed here from the prepared data and the initial weights
/// (round 0's record describes the initial model).
final class RoundMetricsTests: XCTestCase {
    func testGlobalTrainLossAndClientAccuracyAreWhatTheirDefinitionsSay() throws {
        let text = """
            seed: 3
            rounds: 2
            data: {source: fedprox, alpha: 0.5, beta: 0.5, max_client_samples: 200}
            model: {kind: softmax}
            clients: {count: 12, per_round: 4, optimizer: {name: adamw, lr: 0.01}}
            """
        let t = try Topology.parse(
            text + "\nmetrics: {global_train_loss: true, client_accuracy: true}", baseDirectory: "/tmp")
        let plain = try Topology.parse(text, baseDirectory: "/tmp")
        XCTAssertEqual(t.numbersYAML, plain.numbersYAML, "what is logged is not part of the numbers")
        XCTAssertEqual(try Topology.parse(t.resolvedYAML(), baseDirectory: "/tmp").metrics, t.metrics)
        let prepared = try PreparedRun.prepare(t)
        let records = try InProcessRun.records(prepared)
        XCTAssertEqual(
            records.map(\.weightsHash), try InProcessRun.records(PreparedRun.prepare(plain)).map(\.weightsHash))
        // fedprox data is split by client: each client's held-out data is its own test share.
        XCTAssertEqual(prepared.clientEvaluationSets.count, 12)
        XCTAssertEqual(prepared.clientEvaluationSets.reduce(0) { $0 + $1.count }, prepared.testSet.count)
        let model = prepared.model
        let w = prepared.initialWeights
        let accuracies = prepared.clientEvaluationSets.map {
            model.evaluate(params: w, data: $0.materialized(), workspaces: [Workspace()]).accuracy!
        }.sorted()
        let r0 = records[0]
        XCTAssertEqual(try XCTUnwrap(r0.clientAccuracyMean), accuracies.reduce(0, +) / 12, accuracy: 1e-12)
        XCTAssertEqual(r0.clientAccuracyP10, accuracies[1], "nearest rank: ⌈0.1·12⌉ = 2nd smallest")
        XCTAssertEqual(r0.clientAccuracyMin, accuracies[0])
        var lossSum = 0.0
        for shard in prepared.shards {
            lossSum +=
                model.evaluate(params: w, data: shard.materialized(), workspaces: [Workspace()]).loss
                * Double(shard.count)
        }
        let total = Double(prepared.shards.reduce(0) { $0 + $1.count })
        XCTAssertEqual(try XCTUnwrap(r0.globalTrainLoss), lossSum / total, accuracy: 1e-9)
        XCTAssertNotEqual(records[2].globalTrainLoss, r0.globalTrainLoss)
        // AdamW at lr 0.01 with its default λ = 0.01 removes ηλ = 10⁻⁴ of each weight per step.
        XCTAssertEqual(try XCTUnwrap(records[1].effectiveDecay), Double(Float(1e-4)))
        XCTAssertNil(r0.effectiveDecay)
        XCTAssertNil(try InProcessRun.records(PreparedRun.prepare(plain))[1].globalTrainLoss)
    }
}

/// `clients.stragglers`: the FedProx paper's systems heterogeneity.
final class StragglerTests: XCTestCase {
    func testDrawsFollowTheFractionAndPartialWorkIsBelowTheFullWork() {
        let s = Stragglers(fraction: 0.3, policy: .partial)
        var late = 0
        var lengths = Set<Int>()
        for round in 1...100 {
            for client in 0..<100 where s.isStraggler(seed: 9, round: round, client: client) {
                late += 1
                if case .epochs(let e) = s.partialLength(.epochs(20), seed: 9, round: round, client: client) {
                    lengths.insert(e)
                }
            }
        }
        XCTAssertEqual(Double(late) / 10_000, 0.3, accuracy: 0.02)
        XCTAssertEqual(lengths, Set(1...19), "uniform over [1, E) with E = 20")
        XCTAssertEqual(s.partialLength(.steps(1), seed: 9, round: 1, client: 0), .steps(1))
        XCTAssertFalse(Stragglers().isStraggler(seed: 9, round: 1, client: 0))
    }

    func testPartialStragglersTrainLessAndDroppedOnesAreLeftOut() throws {
        func run(_ policy: String) throws -> (PreparedRun, [RoundOutcome]) {
            let t = try Topology.parse(
                """
                seed: 4
                rounds: 5
                data: {source: blobs, count: 600, features: 4, classes: 3}
                model: {kind: softmax}
                clients:
                  count: 10
                  per_round: 6
                  local: {epochs: 8, batch_size: 10}
                  optimizer: {name: sgd, lr: 0.1}
                  stragglers: {fraction: 0.5, policy: \(policy)}
                """, baseDirectory: "/tmp")
            XCTAssertEqual(
                try Topology.parse(t.resolvedYAML(), baseDirectory: "/tmp").clients.stragglers, t.clients.stragglers)
            let prepared = try PreparedRun.prepare(t)
            final class Outcomes: RunObserver {
                var all: [RoundOutcome] = []
                func runStarted(from record: RoundRecord, resumed: Bool, engine: RoundEngine) throws {}
                func roundFinished(_ outcome: RoundOutcome, engine: RoundEngine) throws { all.append(outcome) }
            }
            let clients = prepared.makeClients(0..<10)
            let outcomes = Outcomes()
            _ = try RunDriver(
                prepared: prepared, pool: InProcessPool(clients: (0..<10).map { clients[$0]! }), mode: .inProcess,
                resume: nil, events: EventLog(file: nil, prefix: "run", echo: false), observers: [outcomes]
            ).run()
            return (prepared, outcomes.all)
        }
        let (prepared, partial) = try run("partial")
        let s = prepared.topology.clients.stragglers
        var sawStraggler = false
        for outcome in partial {
            XCTAssertEqual(outcome.accepted.count, 6, "partial work is kept")
            var late = 0
            for u in outcome.accepted {
                let n = prepared.shards[u.clientID].count
                let fullSteps = 8 * ((n + 9) / 10)
                if s.isStraggler(seed: 4, round: outcome.record.round, client: u.clientID) {
                    late += 1
                    sawStraggler = true
                    XCTAssertLessThan(u.steps, fullSteps)
                    XCTAssertEqual(u.steps % ((n + 9) / 10), 0, "whole epochs")
                } else {
                    XCTAssertEqual(u.steps, fullSteps)
                }
            }
            XCTAssertEqual(outcome.record.stragglers, late)
        }
        XCTAssertTrue(sawStraggler)
        let (_, dropped) = try run("drop")
        for outcome in dropped {
            XCTAssertEqual(outcome.accepted.count, 6 - outcome.record.stragglers!)
            XCTAssertFalse(
                outcome.accepted.contains { s.isStraggler(seed: 4, round: outcome.record.round, client: $0.clientID) })
        }
    }
}

/// `partition.txt` lists every client (it stopped after 8: "… and 992 more").
final class PartitionListingTests: XCTestCase {
    func testEveryClientIsListed() throws {
        let t = try Topology.parse(
            """
            data: {source: blobs, count: 2000, features: 3, classes: 4}
            partition: {scheme: dirichlet, alpha: 0.3}
            model: {kind: softmax}
            clients: {count: 40, optimizer: {name: sgd}}
            """, baseDirectory: "/tmp")
        let prepared = try PreparedRun.prepare(t)
        let lines = prepared.partitionListing().split(separator: "\n")
        XCTAssertEqual(lines.count, 41)
        let terminal = prepared.partitionSummary.split(separator: "\n")
        XCTAssertEqual(Array(lines.prefix(8)), Array(terminal.prefix(8)), "the same lines as the terminal's")
        XCTAssertEqual(lines.last, terminal.last)
        XCTAssertTrue(terminal.contains { $0.hasPrefix("… and 32 more") })
        XCTAssertEqual(
            lines.dropLast().map { Int($0.split(separator: " ")[2])! }.reduce(0, +),
            prepared.shards.reduce(0) { $0 + $1.count })
    }
}

/// `clients.sampling: by_samples`: participants drawn in proportion to their samples.
final class SamplingTests: XCTestCase {
    func testBySamplesDrawsLargeClientsInProportion() {
        let weighted = ClientSampler(seed: 3, clientCount: 4, perRound: 1, weights: [1, 1, 1, 97])
        let uniform = ClientSampler(seed: 3, clientCount: 4, perRound: 1)
        let rounds = 1...3000
        let big = rounds.filter { weighted.sample(round: $0) == [3] }.count
        let bigUniform = rounds.filter { uniform.sample(round: $0) == [3] }.count
        XCTAssertEqual(Double(big) / 3000, 0.97, accuracy: 0.015)
        XCTAssertEqual(Double(bigUniform) / 3000, 0.25, accuracy: 0.03)
        // Without replacement, seeded, in id order.
        let two = ClientSampler(seed: 3, clientCount: 5, perRound: 2, weights: [5, 4, 3, 2, 1])
        for r in 1...200 {
            let s = two.sample(round: r)
            XCTAssertEqual(s.count, 2)
            XCTAssertLessThan(s[0], s[1])
            XCTAssertEqual(
                s, ClientSampler(seed: 3, clientCount: 5, perRound: 2, weights: [5, 4, 3, 2, 1]).sample(round: r))
        }
    }

    func testARunSamplesBySamplesAndWritesItBack() throws {
        let t = try Topology.parse(
            """
            rounds: 40
            data: {source: blobs, count: 1000, features: 3, classes: 3}
            partition: {scheme: quantity, alpha: 0.3}
            model: {kind: softmax}
            clients: {count: 10, per_round: 2, sampling: by_samples, optimizer: {name: sgd}}
            """, baseDirectory: "/tmp")
        XCTAssertEqual(try Topology.parse(t.resolvedYAML(), baseDirectory: "/tmp").clients.sampling, .bySamples)
        let prepared = try PreparedRun.prepare(t)
        let records = try InProcessRun.records(prepared)
        var counts = [Int](repeating: 0, count: 10)
        for r in records.dropFirst() { for p in r.participants { counts[p] += 1 } }
        let largest = prepared.shards.indices.max { prepared.shards[$0].count < prepared.shards[$1].count }!
        let smallest = prepared.shards.indices.min { prepared.shards[$0].count < prepared.shards[$1].count }!
        XCTAssertGreaterThan(
            counts[largest], counts[smallest], "sizes \(prepared.shards.map(\.count)), draws \(counts)")
    }
}
