import FedClient
import FedConfig
import FedOptim
import FedProtocol
import FedSimulation
import FedTransport
import FedTransportZMQ
import Foundation

/// A client process's loop: it hosts many virtual clients, connects a DEALER socket to the
/// coordinator, says HELLO, trains whatever tasks arrive and answers with updates. It
/// heartbeats when idle, reconnects with back-off (1 s doubling to 32 s) when the coordinator
/// falls silent, and snapshots each *persist* client's state to disk atomically after every
/// round it takes part in, so a restarted process carries on where it stopped.
/// Confined to the thread that calls `run()`.
public final class ClientHost {
    public let endpoint: String
    public let spec: ClusterSpec
    public let codec: WireCodec
    public let events: EventLog
    private let context: ZMQContext
    private let clients: [Int: VirtualClient]
    private let ranges: [ClosedRange<Int>]
    private let snapshots: SnapshotStore?
    private let shouldStop: () -> Bool
    private var connection = 0

    public init(context: ZMQContext, endpoint: String, spec: ClusterSpec, codec: WireCodec, clients: [Int: VirtualClient],
                ranges: [ClosedRange<Int>], snapshots: SnapshotStore?, events: EventLog, shouldStop: @escaping () -> Bool = { false }) throws {
        self.context = context
        self.endpoint = endpoint
        self.spec = spec
        self.codec = codec
        self.clients = clients
        self.ranges = ranges
        self.snapshots = snapshots
        self.events = events
        self.shouldStop = shouldStop
        if let snapshots {
            var restored = 0
            for (id, client) in clients {
                if let snapshot = try snapshots.load(client: id) {
                    client.restore(snapshot)
                    restored += 1
                }
            }
            if restored > 0 { events.log("restored the optimizer state of \(restored) client(s) from \(snapshots.directory.path)") }
        }
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Runs until SHUTDOWN (returns 0) or a fatal error from the coordinator (returns 2), or
    /// until `shouldStop` (returns 130).
    public func run() throws -> Int32 {
        var socket = try connect()
        var lastHeard = Self.now(), lastSent = Self.now()
        var backoff = 1.0
        while true {
            if shouldStop() { return 130 }
            let frames = try socket.receive(timeout: spec.heartbeatInterval / 2)
            let now = Self.now()
            if let frames {
                lastHeard = now
                let message: WireMessage
                do {
                    message = try codec.decode(frames, stateTemplate: { [clients] id in
                        clients[id].map { $0.optimizer.initialState(params: [Float](repeating: 0, count: $0.model.parameterCount)) }
                    })
                } catch {
                    events.log("rejected a message from the coordinator: \(error)")
                    events.count("rejected")
                    continue
                }
                switch message {
                case .welcome:
                    backoff = 1
                case let .task(task):
                    guard let client = clients[task.clientID] else {
                        events.log("rejected a task for client \(task.clientID), which this process does not host")
                        try send(.error(code: 5, message: "client \(task.clientID) is not hosted here"), on: socket)
                        continue
                    }
                    let update = client.train(task)
                    if client.policy == .persist, let snapshots { try snapshots.save(client.snapshot) }
                    try send(.update(update), on: socket)
                    lastSent = Self.now()
                case .heartbeat:
                    break
                case .shutdown:
                    return 0
                case let .error(code, text):
                    events.log("coordinator error \(code): \(text)")
                    if code == 1 { try send(.hello(ranges: ranges), on: socket) }  // it does not know us (it restarted)
                    if code == 2 || code == 3 || code == 4 { return 2 }  // wrong run, version or ids: fatal
                case .hello, .update:
                    events.log("rejected a \(message.kindName) from the coordinator")
                }
            } else if now - lastHeard > spec.heartbeatInterval * Double(spec.liveness) {
                events.log("coordinator silent for \(String(format: "%.1f", now - lastHeard)) s; reconnecting in \(Int(backoff)) s")
                socket.close()
                let wakeUp = Self.now() + backoff
                while Self.now() < wakeUp {
                    if shouldStop() { return 130 }
                    Thread.sleep(forTimeInterval: 0.05)
                }
                backoff = min(backoff * 2, 32)
                socket = try connect()
                lastHeard = Self.now()
            }
            if Self.now() - lastSent >= spec.heartbeatInterval {
                try send(.heartbeat, on: socket)
                lastSent = Self.now()
            }
        }
    }

    private func connect() throws -> ZMQSocket {
        let socket = try ZMQSocket(context: context, kind: .dealer)
        connection += 1
        let first = ranges.first!.lowerBound, last = ranges.last!.upperBound
        try socket.setRoutingID("clients-\(first)-\(last)-pid\(getpid())-c\(connection)")
        try socket.setMaxMessageSize(codec.maxFrameBytes)
        try socket.connect(endpoint)
        try send(.hello(ranges: ranges), on: socket)
        return socket
    }

    private func send(_ message: WireMessage, on socket: ZMQSocket) throws {
        try socket.send(codec.encode(message))
    }
}

/// One file per virtual client (`client-<id>.json`), written atomically, stamped with the run
/// fingerprint so a snapshot from another run is never loaded.
public struct SnapshotStore: Sendable {
    public let directory: URL
    public let fingerprint: UInt64

    struct File: Codable {
        var fingerprint: String
        var snapshot: ClientSnapshot
    }

    public init(directory: URL, fingerprint: UInt64) throws {
        self.directory = directory
        self.fingerprint = fingerprint
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func url(_ client: Int) -> URL { directory.appendingPathComponent("client-\(client).json") }

    public func save(_ snapshot: ClientSnapshot) throws {
        let data = try JSONEncoder().encode(File(fingerprint: String(fingerprint, radix: 16), snapshot: snapshot))
        try RunDirectory.writeAtomically(data, to: url(snapshot.client))
    }

    public func load(client: Int) throws -> ClientSnapshot? {
        guard let data = FileManager.default.contents(atPath: url(client).path) else { return nil }
        guard let file = try? JSONDecoder().decode(File.self, from: data), file.snapshot.client == client else {
            throw RunInputError("\(url(client).path) is not a FedSim client snapshot (delete it to start that client afresh)")
        }
        guard file.fingerprint == String(fingerprint, radix: 16) else {
            throw RunInputError("\(url(client).path) belongs to another run (fingerprint \(file.fingerprint)); use another --state-dir")
        }
        return file.snapshot
    }
}
