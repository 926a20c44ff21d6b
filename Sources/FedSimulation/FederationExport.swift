import FedClient
import FedCore
import FedData
import FedProtocol
import FedTopology
import FedWire
import Foundation

/// What a client written in another language needs to join a run (`fedsim export`,
/// `Sources/fedsim-python`): `federation.json` — the run fingerprint, the parameter layout by
/// name and shape, the task, local training, each exported client's optimizer and state policy,
/// the heartbeat settings — and each client's training shard as NumPy `.npy` files, exactly the
/// samples the coordinator expects the client to claim (`docs/PROTOCOL.md`).
public struct FederationExport: Codable, Sendable {
    public struct Entry: Codable, Sendable {
        public var name: String
        public var shape: [Int]
        public var offset: Int
        public var role: String
    }

    public struct Optimizer: Codable, Sendable {
        public var name: String
        public var lr: Double
        public var weightDecay: Double
        enum CodingKeys: String, CodingKey {
            case name, lr
            case weightDecay = "weight_decay"
        }
    }

    public struct Client: Codable, Sendable {
        public var id: Int
        public var samples: Int
        public var features: String
        public var targets: String
        public var optimizer: Optimizer
        public var state: String
    }

    public var format = "fedsim-federation 1"
    public var name: String
    public var fingerprint: String
    public var protocolVersion = 1
    public var parameterCount: Int
    public var layout: [Entry]
    public var modelKind: String
    public var task: String
    public var classes: Int?
    public var sampleShape: [Int]
    public var epochs: Int?
    public var steps: Int?
    public var batchSize: Int
    public var trainSeed: UInt64
    public var heartbeatInterval: Double
    public var liveness: Int
    public var clients: [Client]
    /// The resolved topology, for everything else.
    public var topology: String

    enum CodingKeys: String, CodingKey {
        case format, name, fingerprint, layout, task, classes, epochs, steps, clients, topology, liveness
        case protocolVersion = "protocol_version"
        case parameterCount = "parameter_count"
        case modelKind = "model_kind"
        case sampleShape = "sample_shape"
        case batchSize = "batch_size"
        case trainSeed = "train_seed"
        case heartbeatInterval = "heartbeat_interval"
    }

    /// Writes `federation.json` and the shards of `clients` into `directory` (created; it must
    /// not exist). Refuses clients a foreign process cannot serve as documented: those whose
    /// group averages optimizer states (the state would cross the wire in FedSim's layout), and
    /// runs whose clients train partial work drawn by FedSim (stragglers, the clock's deadline).
    @discardableResult
    public static func write(
        _ prepared: PreparedRun, clients ids: [Int], to directory: URL
    ) throws
        -> FederationExport
    {
        let t = prepared.topology
        if let id = ids.first(where: { !(0..<t.clients.count).contains($0) }) {
            throw RunInputError(
                "client \(id) is outside 0-\(t.clients.count - 1) (clients.count is \(t.clients.count))")
        }
        if let id = ids.first(where: { prepared.groups[prepared.groupOfClient[$0]].state == .aggregate }) {
            throw RunInputError(
                "client \(id)'s group averages optimizer states (state: aggregate); an exported client keeps its "
                    + "own state: use persist or reset")
        }
        if t.clients.stragglers.fraction > 0 && t.clients.stragglers.policy == .partial {
            throw RunInputError(
                "clients.stragglers with policy partial: the partial work is FedSim's draw; not exported")
        }
        if t.model.batchNorm == .local {
            throw RunInputError(
                "model.batch_norm: local: keeping batch norms local is FedSim's client logic; not exported")
        }
        if let clock = t.clock, clock.deadline != nil, clock.late == .partial {
            throw RunInputError("clock.late: partial: the steps that fit are FedSim's timing; not exported")
        }
        guard !FileManager.default.fileExists(atPath: directory.path) else {
            throw RunInputError("\(directory.path) already exists; give a new directory")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var clients: [Client] = []
        for id in ids {
            let shard = prepared.shards[id].materialized()
            let features = "client-\(id)-features.npy"
            let targets = "client-\(id)-targets.npy"
            try Data(NumpyArrayFile.float32(Array(shard.features), shape: [shard.count] + shard.shape)).write(
                to: directory.appendingPathComponent(features))
            let targetBytes: [UInt8] =
                switch shard.targets {
                case .classes(let labels, _): NumpyArrayFile.int64(labels.map(Int64.init))
                case .values(let values): NumpyArrayFile.float32(values, shape: [values.count])
                }
            try Data(targetBytes).write(to: directory.appendingPathComponent(targets))
            let group = prepared.groups[prepared.groupOfClient[id]]
            clients.append(
                Client(
                    id: id, samples: shard.count, features: features, targets: targets,
                    optimizer: Optimizer(
                        name: group.optimizer.name.rawValue, lr: group.optimizer.lr,
                        weightDecay: group.optimizer.weightDecay),
                    state: group.state.rawValue))
        }
        let test = prepared.testSet
        var epochs: Int?
        var steps: Int?
        switch t.clients.local.length {
        case .epochs(let e): epochs = e
        case .steps(let k): steps = k
        }
        let export = FederationExport(
            name: t.name, fingerprint: prepared.fingerprintHex, parameterCount: prepared.model.parameterCount,
            layout: prepared.model.layout.entries.map {
                Entry(name: $0.name, shape: $0.shape, offset: $0.offset, role: $0.role.rawValue)
            },
            modelKind: t.model.kind.rawValue, task: test.isClassification ? "classification" : "regression",
            classes: test.isClassification ? test.classCount : nil, sampleShape: test.shape, epochs: epochs,
            steps: steps, batchSize: t.clients.local.batchSize, trainSeed: t.trainSeed,
            heartbeatInterval: t.cluster.heartbeatInterval, liveness: t.cluster.liveness, clients: clients,
            topology: t.resolvedYAML())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(export).write(to: directory.appendingPathComponent("federation.json"))
        return export
    }
}
