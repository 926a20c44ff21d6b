import FedClient
import FedConfig
import FedCoordinator
import FedCore
import FedOptim
import FedProtocol
import FedSimulation
import FedStrategy
import FedTransportZMQ
import Foundation

/// What the coordinator saves after every round (atomically, `checkpoint.json` in the run
/// directory): enough to continue the run and reach the same final weights.
public struct Checkpoint: Codable {
    public var fingerprint: String
    /// The run instance's id (hex), kept by `--resume`.
    public var runID: String
    public var round: Int
    /// Global weights, raw little-endian Float32.
    public var weights: Data
    public var sharedStates: [Int: OptimizerState]
    public var serverState: ServerState
    public var record: RoundRecord
    public var clients: [ClientRecord]

    public static func url(in run: URL) -> URL { run.appendingPathComponent("checkpoint.json") }

    public var weightValues: [Float] {
        weights.withUnsafeBytes { raw in
            (0..<(weights.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    static func encode(_ weights: [Float]) -> Data {
        var data = Data(capacity: 4 * weights.count)
        for w in weights { withUnsafeBytes(of: w.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    public static func load(from run: URL) throws -> Checkpoint {
        guard let data = FileManager.default.contents(atPath: url(in: run).path) else {
            throw RunInputError("\(run.path) has no checkpoint.json: nothing to resume (was it started by fedsim coordinator or cluster?)")
        }
        do {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            return try decoder.decode(Checkpoint.self, from: data)
        } catch {
            throw RunInputError("\(url(in: run).path) is damaged: \(error)")
        }
    }
}

/// The coordinator process: binds, waits for the client processes, runs the rounds through the
/// same `RoundEngine` as the single-process run, checkpoints every round, and writes the same
/// run directory as `fedsim run`.
public enum CoordinatorRun {
    /// - Parameters:
    ///   - resume: the checkpoint to continue from (the run directory was reopened at its round).
    ///   - onBound: called with the endpoint actually bound, before waiting for clients.
    public static func run(prepared: PreparedRun, directory: RunDirectory, context: ZMQContext, endpoint: String,
                           resume: Checkpoint?, events: EventLog, shouldStop: @escaping () -> Bool,
                           onBound: (String) -> Void = { _ in }, progress: (String) -> Void) async throws -> [RoundRecord] {
        let t = prepared.topology
        let wire = RunWire(prepared)
        let groupOf = prepared.groupOfClient
        let policies = prepared.groups.map(\.state)
        // A fresh id names this run instance; a resumed run keeps its own.
        let runID = resume.flatMap { UInt64($0.runID, radix: 16) } ?? UInt64.random(in: 1...UInt64.max)
        let runIDText = String(runID, radix: 16)
        let coordinator = try ClusterCoordinator(
            context: context, endpoint: endpoint, codec: wire.codec, spec: t.cluster, clientCount: t.clients.count, events: events,
            roundsCompleted: resume?.round ?? 0, runID: runID, stateTemplate: wire.stateTemplate, shouldStop: shouldStop)
        // `endpoint` tells scripts (and client processes started by hand) where to connect.
        try RunDirectory.writeAtomically(Data((coordinator.boundEndpoint + "\n").utf8), to: directory.url.appendingPathComponent("endpoint"))
        onBound(coordinator.boundEndpoint)
        defer { coordinator.shutdown() }
        let engine = RoundEngine(
            model: prepared.model, testSet: prepared.testSet, initialWeights: prepared.initialWeights,
            sampler: ClientSampler(seed: t.seed, clientCount: t.clients.count, perRound: t.clients.perRound),
            server: t.server, groupOfClient: groupOf, policyOfGroup: policies, stateAggregation: t.clients.stateAggregation,
            pool: coordinator)
        var records: [RoundRecord] = []
        let first: Int
        if let resume {
            engine.restore(weights: resume.weightValues, sharedStates: resume.sharedStates, serverState: resume.serverState)
            records.append(resume.record)
            first = resume.round + 1
            events.log("resuming after round \(resume.round) (weights \(resume.record.weightsHash))")
        } else {
            records.append(engine.initialRecord())
            try directory.append(records[0], clients: [])
            try save(Checkpoint(fingerprint: String(t.fingerprint, radix: 16), runID: runIDText, round: 0, weights: Checkpoint.encode(engine.weights),
                                sharedStates: [:], serverState: ServerState(), record: records[0], clients: []), in: directory.url)
            first = 1
        }
        progress(Simulation.progressLine(records[0], of: t.rounds))
        try coordinator.waitForClients()
        if first <= t.rounds {
            for round in first...t.rounds {
                let (record, updates) = try await engine.runRound(round)
                let clientRecords = RoundEngine.clientRecords(updates)
                try save(Checkpoint(fingerprint: String(t.fingerprint, radix: 16), runID: runIDText, round: round, weights: Checkpoint.encode(engine.weights),
                                    sharedStates: engine.sharedStates, serverState: engine.serverState, record: record,
                                    clients: clientRecords), in: directory.url)
                try directory.append(record, clients: clientRecords)
                coordinator.finished(round: round)
                records.append(record)
                progress(Simulation.progressLine(record, of: t.rounds))
            }
        }
        let last = records.last!
        var summary = ["name": t.name, "rounds": String(t.rounds), "seed": String(t.seed), "mode": "cluster",
                       "final_weights_hash": last.weightsHash, "final_test_loss": "\(last.testLoss)", "completed": "true"]
        if let accuracy = last.testAccuracy { summary["final_test_accuracy"] = "\(accuracy)" }
        for (name, count) in events.counters { summary["count." + name] = String(count) }
        try directory.finish(weights: engine.weights, summary: summary)
        return records
    }

    static func save(_ checkpoint: Checkpoint, in run: URL) throws {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try RunDirectory.writeAtomically(encoder.encode(checkpoint), to: Checkpoint.url(in: run))
    }
}
