import FedCoordinator
import FedOptim
import FedStrategy
import FedWire
import Foundation

/// What a run saves after every round (atomically, `checkpoint.json` in the run directory):
/// enough to continue the run and reach the same final weights. Clients' persistent optimizer
/// states are not in it; they live in their snapshots (`client-state/`).
public struct Checkpoint: Codable, Sendable {
    /// An optimizer state as `OptimizerStateCoding` writes it (base64 in the JSON).
    public struct EncodedState: Codable, Sendable {
        public var header: Data
        public var data: Data
        public init(_ state: OptimizerState) {
            header = Data(OptimizerStateCoding.header(state))
            data = Float32LE.data(OptimizerStateCoding.data(state))
        }
    }

    public var fingerprint: String
    /// The run instance's id (hex), kept by `--resume`.
    public var runID: String
    public var round: Int
    /// Global weights, raw little-endian Float32.
    public var weights: Data
    /// The averaged optimizer state of each *aggregate* group, in `OptimizerStateCoding`'s layout.
    public var sharedStates: [Int: EncodedState]
    public var serverState: ServerState
    public var record: RoundRecord
    public var clients: [ClientRecord]

    public static func url(in run: URL) -> URL { run.appendingPathComponent("checkpoint.json") }

    public init(
        fingerprint: UInt64, runID: UInt64, round: Int, engine: RoundEngine, record: RoundRecord,
        clients: [ClientRecord]
    ) {
        self.fingerprint = String(format: "%016llx", fingerprint)
        self.runID = String(runID, radix: 16)
        self.round = round
        weights = Float32LE.data(engine.weights)
        sharedStates = engine.sharedStates.mapValues(EncodedState.init)
        serverState = engine.serverState
        self.record = record
        self.clients = clients
    }

    public var weightValues: [Float] { Float32LE.values(weights) }

    /// The shared states decoded; `template(group)` is a fresh state of that group's optimizer.
    public func decodedSharedStates(template: (Int) -> OptimizerState) throws -> [Int: OptimizerState] {
        try sharedStates.reduce(into: [:]) { result, entry in
            do {
                result[entry.key] = try OptimizerStateCoding.decode(
                    header: [UInt8](entry.value.header), data: [UInt8](entry.value.data),
                    template: template(entry.key), requireFinite: true)
            } catch {
                throw RunInputError(
                    "checkpoint.json: the shared optimizer state of group \(entry.key) does not fit its optimizer: "
                        + "\(error)"
                )
            }
        }
    }

    public var runIDValue: UInt64? { UInt64(runID, radix: 16) }

    public static func load(from run: URL) throws -> Checkpoint {
        guard let data = FileManager.default.contents(atPath: url(in: run).path) else {
            throw RunInputError("\(run.path) has no checkpoint.json: nothing to resume (is it a FedSim run directory?)")
        }
        do {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(
                positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            return try decoder.decode(Checkpoint.self, from: data)
        } catch {
            throw RunInputError("\(url(in: run).path) is damaged: \(error)")
        }
    }

    public func save(in run: URL) throws {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try RunDirectory.writeAtomically(encoder.encode(self), to: Checkpoint.url(in: run))
    }
}
