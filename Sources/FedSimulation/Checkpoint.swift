import FedCoordinator
import FedOptim
import FedStrategy
import FedTransport
import FedWire
import Foundation

/// What a run saves after every round (atomically, `checkpoint.bin` in the run directory):
/// enough to continue the run and reach the same final weights. A `BlobFile`: the small fields
/// as JSON, the global weights, the server optimizer's moments and the groups' shared optimizer
/// states as raw arrays. Clients' persistent optimizer states are not in it; they live in their
/// snapshots (`client-state/`).
public struct Checkpoint: Sendable {
    /// The small fields, stored as the file's JSON metadata.
    struct Meta: Codable {
        var fingerprint: String
        var runID: String
        var round: Int
        var record: RoundRecord
        var clients: [ClientRecord]
        var serverStep: Int
        var sharedGroups: [Int]
    }

    public var fingerprint: String
    /// The run instance's id (hex), kept by `--resume`.
    public var runID: String
    public var round: Int
    public var weights: [Float]
    /// The averaged optimizer state of each *aggregate* group, as `OptimizerStateCoding` lays it out.
    var sharedStates: [Int: (header: [UInt8], data: [Float])]
    public var serverState: ServerState
    public var record: RoundRecord
    public var clients: [ClientRecord]

    public static let fileName = "checkpoint.bin"
    public static func url(in run: URL) -> URL { run.appendingPathComponent(fileName) }

    public init(
        fingerprint: UInt64, runID: UInt64, round: Int, engine: RoundEngine, record: RoundRecord,
        clients: [ClientRecord]
    ) {
        self.fingerprint = String(format: "%016llx", fingerprint)
        self.runID = String(runID, radix: 16)
        self.round = round
        weights = engine.weights
        sharedStates = engine.sharedStates.mapValues {
            (OptimizerStateCoding.header($0), OptimizerStateCoding.data($0))
        }
        serverState = engine.serverState
        self.record = record
        self.clients = clients
    }

    public var runIDValue: UInt64? { UInt64(runID, radix: 16) }

    /// The shared states decoded; `template(group)` is a fresh state of that group's optimizer.
    public func decodedSharedStates(template: (Int) -> OptimizerState) throws -> [Int: OptimizerState] {
        try sharedStates.reduce(into: [:]) { result, entry in
            do {
                result[entry.key] = try OptimizerStateCoding.decode(
                    header: entry.value.header, data: Float32LE.bytes(entry.value.data),
                    template: template(entry.key), requireFinite: true)
            } catch {
                throw RunInputError(
                    "\(Checkpoint.fileName): the shared optimizer state of group \(entry.key) does not fit its "
                        + "optimizer: \(error)")
            }
        }
    }

    public static func load(from run: URL) throws -> Checkpoint {
        let path = url(in: run).path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunInputError("\(run.path) has no \(fileName): nothing to resume (is it a FedSim run directory?)")
        }
        do {
            let (metaBytes, blobs) = try BlobFile.decode([UInt8](data))
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(
                positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            let meta = try decoder.decode(Meta.self, from: Data(metaBytes))
            func blob(_ name: String, multipleOf size: Int) throws -> [UInt8] {
                guard let b = blobs[name], b.count % size == 0 else {
                    throw BlobFile.Damaged(description: "no valid \(name)")
                }
                return b
            }
            var server = ServerState()
            server.step = meta.serverStep
            server.m = try blob("server.m", multipleOf: 8).withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
            server.v = try blob("server.v", multipleOf: 8).withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
            var shared: [Int: (header: [UInt8], data: [Float])] = [:]
            for group in meta.sharedGroups {
                shared[group] = (
                    try blob("shared.\(group).header", multipleOf: 1),
                    Float32LE.values(try blob("shared.\(group).data", multipleOf: 4))
                )
            }
            return Checkpoint(
                fingerprint: meta.fingerprint, runID: meta.runID, round: meta.round,
                weights: Float32LE.values(try blob("weights", multipleOf: 4)), sharedStates: shared,
                serverState: server,
                record: meta.record, clients: meta.clients)
        } catch {
            throw RunInputError("\(path) is damaged: \(error)")
        }
    }

    private init(
        fingerprint: String, runID: String, round: Int, weights: [Float],
        sharedStates: [Int: (header: [UInt8], data: [Float])],
        serverState: ServerState, record: RoundRecord, clients: [ClientRecord]
    ) {
        self.fingerprint = fingerprint
        self.runID = runID
        self.round = round
        self.weights = weights
        self.sharedStates = sharedStates
        self.serverState = serverState
        self.record = record
        self.clients = clients
    }

    public func save(in run: URL) throws {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let groups = sharedStates.keys.sorted()
        let meta = Meta(
            fingerprint: fingerprint, runID: runID, round: round, record: record, clients: clients,
            serverStep: serverState.step, sharedGroups: groups)
        var blobs: [(name: String, data: OutgoingFrame)] = [
            ("weights", .floats(weights)),
            ("server.m", .bytes(serverState.m.withUnsafeBytes { Array($0) })),
            ("server.v", .bytes(serverState.v.withUnsafeBytes { Array($0) })),
        ]
        for group in groups {
            blobs.append(("shared.\(group).header", .bytes(sharedStates[group]!.header)))
            blobs.append(("shared.\(group).data", .floats(sharedStates[group]!.data)))
        }
        let parts = BlobFile.parts(meta: Array(try encoder.encode(meta)), blobs: blobs)
        try RunDirectory.writeAtomically(parts: parts, to: Checkpoint.url(in: run))
    }
}
