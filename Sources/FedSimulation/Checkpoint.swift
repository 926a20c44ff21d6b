import FedCoordinator
import FedOptim
import FedStrategy
import Foundation

/// What a run saves after every round (atomically, `checkpoint.json` in the run directory):
/// enough to continue the run and reach the same final weights. Clients' persistent optimizer
/// states are not in it; they live in their snapshots (`client-state/`).
public struct Checkpoint: Codable, Sendable {
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

    public init(fingerprint: UInt64, runID: UInt64, round: Int, engine: RoundEngine, record: RoundRecord, clients: [ClientRecord]) {
        self.fingerprint = String(format: "%016llx", fingerprint)
        self.runID = String(runID, radix: 16)
        self.round = round
        var data = Data(capacity: 4 * engine.weights.count)
        for w in engine.weights { withUnsafeBytes(of: w.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        weights = data
        sharedStates = engine.sharedStates
        serverState = engine.serverState
        self.record = record
        self.clients = clients
    }

    public var weightValues: [Float] {
        weights.withUnsafeBytes { raw in
            (0..<(weights.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    public var runIDValue: UInt64? { UInt64(runID, radix: 16) }

    public static func load(from run: URL) throws -> Checkpoint {
        guard let data = FileManager.default.contents(atPath: url(in: run).path) else {
            throw RunInputError("\(run.path) has no checkpoint.json: nothing to resume (is it a FedSim run directory?)")
        }
        do {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            return try decoder.decode(Checkpoint.self, from: data)
        } catch {
            throw RunInputError("\(url(in: run).path) is damaged: \(error)")
        }
    }

    public func save(in run: URL) throws {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try RunDirectory.writeAtomically(encoder.encode(self), to: Checkpoint.url(in: run))
    }
}
