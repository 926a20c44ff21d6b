import FedCore
import FedData
import FedProtocol
import FedSimulation
import FedTopology
import Foundation
import XCTest

final class DataPathTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("fedsim-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// SCIENCE.md §2.10: on ill-conditioned inputs (feature scales 0.01 … 100), standardizing the
    /// features still helps Adam: a lower test loss after the same number of steps.
    func testStandardizationHelpsAdamOnIllConditionedFeatures() throws {
        var rng = SeededRandom(seed: 1)
        let (data, _, _) = Synthetic.linearRegression(count: 600, features: 4, noise: 0.05, bias: 0.5, rng: &rng)
        let scales: [Float] = [0.01, 1, 30, 100]
        var csv = "y,a,b,c,d\n"
        if case .values(let y) = data.targets {
            for i in 0..<data.count {
                let row = (0..<4).map { "\(data.features[i * 4 + $0] * scales[$0])" }
                csv += "\(y[i])," + row.joined(separator: ",") + "\n"
            }
        }
        try csv.write(to: dir.appendingPathComponent("ill.csv"), atomically: true, encoding: .utf8)
        func finalLoss(standardize: Bool) throws -> Double {
            let t = try Topology.parse(
                """
                rounds: 10
                data: {source: csv, path: ill.csv, task: regression, standardize: \(standardize)}
                model: {kind: linear}
                clients:
                  count: 3
                  local: {steps: 20, batch_size: full}
                  optimizer: {name: adam, lr: 0.05}
                """, baseDirectory: dir.path)
            return try InProcessRun.records(PreparedRun.prepare(t)).last!.testLoss
        }
        let raw = try finalLoss(standardize: false)
        let standardized = try finalLoss(standardize: true)
        XCTAssertLessThan(standardized, raw / 10, "standardized \(standardized) vs raw \(raw)")
    }

    /// Initial weights from a JSON array or raw Float32 file; a wrong count is a clear error.
    func testInitialWeightsFromFile() throws {
        let base = """
            data: {source: blobs, count: 60, features: 3, classes: 2}
            model: {kind: logistic, init: w.json}
            clients: {count: 2, optimizer: {name: sgd}}
            """
        try "[0.5, -1, 2, 0.25]".write(to: dir.appendingPathComponent("w.json"), atomically: true, encoding: .utf8)
        let prepared = try PreparedRun.prepare(Topology.parse(base, baseDirectory: dir.path))
        XCTAssertEqual(prepared.initialWeights, [0.5, -1, 2, 0.25])
        var raw = Data()
        for w: Float in [1, 2, 3, 4] { withUnsafeBytes(of: w.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
        try raw.write(to: dir.appendingPathComponent("w.f32"))
        let fromRaw = try PreparedRun.prepare(
            Topology.parse(base.replacingOccurrences(of: "w.json", with: "w.f32"), baseDirectory: dir.path))
        XCTAssertEqual(fromRaw.initialWeights, [1, 2, 3, 4])
        try "[1, 2]".write(to: dir.appendingPathComponent("w.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PreparedRun.prepare(Topology.parse(base, baseDirectory: dir.path))) { error in
            XCTAssertTrue("\(error)".contains("holds 2 numbers; the model has 4 parameters"), "\(error)")
        }
    }

    /// Naturally split data: FedProx Synthetic(1, 1) over 10 clients, and one file per client.
    func testNaturalPartitions() throws {
        let t = try Topology.parse(
            """
            rounds: 3
            data: {source: fedprox, alpha: 1, beta: 1}
            model: {kind: softmax}
            clients: {count: 10, per_round: 5, optimizer: {name: adamw, lr: 0.01}}
            """, baseDirectory: dir.path)
        XCTAssertEqual(t.partition, .natural)
        let prepared = try PreparedRun.prepare(t)
        XCTAssertEqual(prepared.shards.count, 10)
        XCTAssertEqual(prepared.model.layout.entries.map(\.shape), [[10, 60], [10]])
        XCTAssertGreaterThan(Set(prepared.shards.map(\.count)).count, 1, "client sizes differ")
        let records = try InProcessRun.records(prepared)
        XCTAssertEqual(records.count, 4)

        // The reference's options read from the topology, written back, and refused where meaningless.
        let iid = try Topology.parse(
            """
            data: {source: fedprox, iid: true, beta: 0.5, max_client_samples: 300, alpha_beta: variance}
            model: {kind: softmax}
            clients: {count: 4, optimizer: {name: sgd}}
            """, baseDirectory: dir.path)
        XCTAssertEqual(
            iid.data.source,
            .fedprox(alpha: 0, beta: 0.5, options: .init(spread: .variance, iid: true, maxClientSamples: 300)))
        XCTAssertEqual(try Topology.parse(iid.resolvedYAML(), baseDirectory: dir.path).data.source, iid.data.source)
        XCTAssertLessThanOrEqual(try PreparedRun.prepare(iid).shards.map(\.count).max()!, 300)
        XCTAssertThrowsError(
            try Topology.parse(
                "data: {source: fedprox, iid: true, alpha: 1}\nmodel: {kind: softmax}\n"
                    + "clients: {optimizer: {name: sgd}}",
                baseDirectory: dir.path)
        ) { XCTAssertTrue("\($0)".contains("data.alpha: iid fedprox data"), "\($0)") }
        XCTAssertThrowsError(
            try Topology.parse(
                "data: {source: blobs, iid: true}\nmodel: {kind: softmax}\nclients: {optimizer: {name: sgd}}",
                baseDirectory: dir.path)
        ) { XCTAssertTrue("\($0)".contains("'iid' is not a setting of data source blobs"), "\($0)") }

        let clients = dir.appendingPathComponent("clients")
        try FileManager.default.createDirectory(at: clients, withIntermediateDirectories: true)
        for k in 0..<3 {
            var text = "label,x,y\n"
            for i in 0..<20 { text += "\((i + k) % 2),\(Double(i) * 0.1),\(Double(k))\n" }
            try text.write(to: clients.appendingPathComponent("client\(k).csv"), atomically: true, encoding: .utf8)
        }
        let d = try Topology.parse(
            """
            data: {source: directory, path: clients}
            partition: {scheme: natural}
            model: {kind: logistic}
            clients: {count: 3, optimizer: {name: sgd, lr: 0.1}}
            """, baseDirectory: dir.path)
        let pd = try PreparedRun.prepare(d)
        XCTAssertEqual(pd.shards.map(\.count).reduce(0, +) + pd.testSet.count, 60)
        var wrong = d
        wrong.clients.count = 4
        XCTAssertThrowsError(try PreparedRun.prepare(wrong)) {
            XCTAssertTrue("\($0)".contains("clients.count is 4 but the data holds 3 client files"))
        }
    }
}

/// Batch norm in a federation: a client's local training moves its running statistics (they go
/// to the server in the delta and are averaged like weights), no optimizer decays them, and the
/// run learns.
final class BatchNormRunTests: XCTestCase {
    func testRunningStatisticsTravelInTheDeltaAndAreNeverDecayed() throws {
        let t = try Topology.parse(
            """
            seed: 3
            rounds: 4
            data: {source: blobs, count: 400, features: 16, classes: 3, shape: [1, 4, 4]}
            model:
              kind: sequential
              layers: [{layer: conv2d, channels: 4, kernel: 3, padding: 1, bias: false}, batch_norm, relu, flatten,
                       {layer: dense, units: 3}]
            clients:
              count: 4
              local: {epochs: 1, batch_size: 16}
              optimizer: {name: adamw, lr: 0.01, weight_decay: 0.5}
            """, baseDirectory: "/tmp")
        let prepared = try PreparedRun.prepare(t)
        let layout = prepared.model.layout
        let mean = try XCTUnwrap(layout["1.running_mean"])
        let variance = try XCTUnwrap(layout["1.running_var"])
        XCTAssertEqual(Set(prepared.initialWeights[mean.range]), [0])
        XCTAssertEqual(Set(prepared.initialWeights[variance.range]), [1])
        let client = try XCTUnwrap(prepared.makeClients([0])[0])
        let update = client.train(
            ClientTask(round: 1, clientID: 0, globalWeights: prepared.initialWeights, sharedState: nil))
        XCTAssertTrue(update.delta[mean.range].allSatisfy { $0 != 0 && $0.isFinite }, "the running means moved")
        XCTAssertTrue(update.delta[variance.range].allSatisfy { $0 != 0 && $0.isFinite }, "the running variances moved")
        // With gradients of zero, AdamW moves weights by decay alone: the statistics must not move.
        var state = client.optimizer.initialState(params: prepared.initialWeights)
        var weights = prepared.initialWeights
        client.optimizer.step(
            params: &weights, gradients: [Float](repeating: 0, count: weights.count), state: &state)
        XCTAssertEqual(
            Array(weights[mean.range]) + Array(weights[variance.range]),
            Array(prepared.initialWeights[mean.range]) + Array(prepared.initialWeights[variance.range]))
        XCTAssertNotEqual(
            Array(weights[layout["0.weight"]!.range]), Array(prepared.initialWeights[layout["0.weight"]!.range]))
        let records = try InProcessRun.records(prepared)
        XCTAssertGreaterThan(try XCTUnwrap(records.last?.testAccuracy), 0.6, "\(records.map(\.testAccuracy))")
    }
}
