import FedCoordinator
import FedData
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
