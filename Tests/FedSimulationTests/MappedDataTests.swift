import FedData
import FedSimulation
import FedTopology
import FedWire
import Foundation
import XCTest

/// `data.source: npy`: the same samples as another source give the same numbers, every shard
/// reads the one mapping, and a client process keeps its views into it instead of a copy.
final class MappedDataTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("fedsim-npy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The digits as `x.npy` (Float32, 64 features) and `y.npy` (Int64 labels) in `dir`.
    func writeDigits() throws {
        let digits = try DataLoader.csv(
            path: Self.repository.appendingPathComponent("Topologies/data/digits.csv").path, task: .classification)
        try Data(NumpyArrayFile.float32(Array(digits.features), shape: [digits.count, 64])).write(
            to: dir.appendingPathComponent("x.npy"))
        try Data(NumpyArrayFile.int64(digits.labels!.map(Int64.init))).write(to: dir.appendingPathComponent("y.npy"))
    }

    func topology(_ data: String, standardize: Bool = false) throws -> Topology {
        try Topology.parse(
            """
            seed: 42
            rounds: 4
            data: {\(data), standardize: \(standardize)}
            model: {kind: mlp, hidden: [32]}
            clients:
              count: 10
              per_round: 5
              local: {epochs: 1, batch_size: 16}
              optimizer: {name: adamw, lr: 0.003, weight_decay: 0.01}
              state: persist
            """, baseDirectory: dir.path)
    }

    func testMappedArraysGiveTheNumbersOfTheSameDataAsCSV() throws {
        try writeDigits()
        try FileManager.default.copyItem(
            at: Self.repository.appendingPathComponent("Topologies/data/digits.csv"),
            to: dir.appendingPathComponent("digits.csv"))
        for standardize in [false, true] {
            let csv = try PreparedRun.prepare(topology("source: csv, path: digits.csv", standardize: standardize))
            let npy = try PreparedRun.prepare(
                topology("source: npy, features: x.npy, targets: y.npy", standardize: standardize))
            let file = npy.shards[0].base.features.mappedFile
            XCTAssertEqual(file != nil, !standardize, "mapped unless standardized (which copies)")
            if let file { XCTAssertTrue(npy.shards.allSatisfy { $0.base.features.mappedFile === file }) }
            XCTAssertEqual(npy.shards, csv.shards)
            XCTAssertEqual(npy.testSet, csv.testSet)
            func part(_ run: PreparedRun) -> Substring? {
                run.fingerprintParts.split(separator: " ").first { $0.hasPrefix("data_content=") }
            }
            XCTAssertEqual(part(npy), part(csv), "the same data content")
            XCTAssertNotEqual(npy.fingerprint, csv.fingerprint, "the data section names the source")
            let hashes = { (run: PreparedRun) in try InProcessRun.records(run).map(\.weightsHash) }
            XCTAssertEqual(try hashes(npy), try hashes(csv), "standardize: \(standardize)")
        }
    }

    /// A client process hosting clients 2 and 7 keeps their views into the mapping (the same
    /// rows) and empty views for the rest; nothing is copied.
    func testAClientProcessKeepsViewsIntoTheMapping() throws {
        try writeDigits()
        let run = try PreparedRun.prepare(topology("source: npy, features: x.npy, targets: y.npy"))
        let hosted = run.hosting([2, 7])
        let file = try XCTUnwrap(run.shards[0].base.features.mappedFile)
        for id in run.shards.indices {
            XCTAssertTrue(hosted.shards[id].base.features.mappedFile === file)
            XCTAssertEqual(hosted.shards[id].rows, [2, 7].contains(id) ? run.shards[id].rows : [])
        }
        XCTAssertEqual(hosted.testSet.count, 0)
        XCTAssertEqual(hosted.fingerprint, run.fingerprint)
    }
}
