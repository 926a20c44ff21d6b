import FedClient
import FedConfig
import FedOptim
import FedProtocol
import FedSimulation
import FedTransport
import FedTransportZMQ
import Foundation

/// A client process's loop: it hosts many virtual clients, connects a DEALER socket to the
/// coordinator, says HELLO, hands whatever tasks arrive to its training worker and sends the
/// updates back. It heartbeats when idle — also while the worker trains — reconnects with back-off (1 s doubling to 32 s) when the coordinator
/// falls silent, and snapshots each *persist* client's state to disk atomically after every
/// round it takes part in, so a restarted process carries on where it stopped.
/// Confined to the thread that calls `run()`.
public final class ClientHost {
    public let endpoint: String
    public let spec: ClusterSpec
    public var codec: WireCodec { wire.codec }
    public let events: EventLog
    private let wire: RunWire
    private let context: ZMQContext
    private let worker: TrainingWorker
    private let ranges: [ClosedRange<Int>]
    private let snapshots: SnapshotStore?
    private let shouldStop: () -> Bool
    private var connection = 0

    init(context: ZMQContext, endpoint: String, spec: ClusterSpec, wire: RunWire, worker: TrainingWorker,
         ranges: [ClosedRange<Int>], snapshots: SnapshotStore?, events: EventLog, shouldStop: @escaping () -> Bool = { false }) {
        self.context = context
        self.endpoint = endpoint
        self.spec = spec
        self.wire = wire
        self.worker = worker
        self.ranges = ranges
        self.snapshots = snapshots
        self.events = events
        self.shouldStop = shouldStop
    }

    /// The run instance the coordinator named in WELCOME; snapshots are restored for it.
    private var runID: UInt64?

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Runs until SHUTDOWN (returns 0) or a fatal error from the coordinator (returns 2), or
    /// until `shouldStop` (returns 130).
    public func run() throws -> Int32 {
        defer { worker.submit(.stop) }
        var socket = try connect()
        var lastHeard = Self.now(), lastSent = Self.now()
        var backoff = 1.0
        while true {
            if shouldStop() { return 130 }
            // Updates the worker finished go out first.
            for outcome in worker.take() {
                switch outcome {
                case let .update(update):
                    try send(.update(update), on: socket)
                    lastSent = Self.now()
                case let .restored(count):
                    if count > 0, let snapshots { events.log("restored the optimizer state of \(count) client(s) from \(snapshots.directory.path)") }
                case let .snapshotFailed(error):
                    events.log("could not snapshot a client's optimizer state: \(error)")
                    events.count("snapshot_failures")
                case let .fatal(error):
                    events.log("error: \(error)")
                    return 2
                }
            }
            // While the worker trains, poll briefly so its updates leave at once.
            let frames = try socket.receive(timeout: worker.isBusy ? 0.001 : spec.heartbeatInterval / 2)
            let now = Self.now()
            if let frames {
                lastHeard = now
                let message: WireMessage
                do {
                    message = try codec.decode(frames, stateTemplate: wire.stateTemplate)
                } catch {
                    events.log("rejected a message from the coordinator: \(error)")
                    events.count("rejected")
                    continue
                }
                switch message {
                case let .welcome(_, id):
                    backoff = 1
                    if id != runID {
                        runID = id
                        worker.submit(.restore(runID: id))
                    }
                case let .task(task):
                    guard ranges.contains(where: { $0.contains(task.clientID) }) else {
                        events.log("rejected a task for client \(task.clientID), which this process does not host")
                        try send(.error(code: 5, message: "client \(task.clientID) is not hosted here"), on: socket)
                        continue
                    }
                    worker.submit(.train(task, runID: runID ?? 0))
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

/// One file per virtual client (`client-<id>.state`), written atomically after every round
/// the client takes part in. Binary (the slots as raw Float32, a few hundred µs to write) and
/// stamped with the topology fingerprint and the run id, so a snapshot from another run —
/// even of the same topology — is never loaded.
///
/// Layout, little-endian: `FSNP`, u16 version 1, u64 fingerprint, u64 run id, u32 client, i64 last round
/// (−1: none), then two optional states (current; before the last round), each: u8 present,
/// u64 step, u16 transforms, per transform u16 slots, u16 scalars, scalars as f64, u32 floats,
/// floats as f32.
public struct SnapshotStore: Sendable {
    public let directory: URL
    public let fingerprint: UInt64

    public init(directory: URL, fingerprint: UInt64) throws {
        self.directory = directory
        self.fingerprint = fingerprint
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func url(_ client: Int) -> URL { directory.appendingPathComponent("client-\(client).state") }

    public func save(_ snapshot: ClientSnapshot, runID: UInt64) throws {
        var out = [UInt8]()
        func append<T: FixedWidthInteger>(_ x: T) { withUnsafeBytes(of: x.littleEndian) { out += $0 } }
        out += Array("FSNP".utf8)
        append(UInt16(1)); append(fingerprint); append(runID); append(UInt32(snapshot.client)); append(Int64(snapshot.lastRound ?? -1))
        for state in [snapshot.state, snapshot.stateBeforeLastRound] {
            guard let state else { out.append(0); continue }
            out.append(1)
            append(UInt64(state.step)); append(UInt16(state.transforms.count))
            for t in state.transforms {
                append(UInt16(t.names.count)); append(UInt16(t.scalars.count))
                for x in t.scalars { append(x.bitPattern) }
                append(UInt32(t.storage.count))
                t.storage.withUnsafeBytes { out += $0 }
            }
        }
        try RunDirectory.writeAtomically(Data(out), to: url(snapshot.client))
    }

    /// Loads client `client`'s snapshot for run `runID` (nil when there is none, or it belongs to
    /// another run), rebuilding slot names from `template` (a fresh state of the client's
    /// optimizer); a damaged file or a shape that differs is an error.
    public func load(client: Int, template: OptimizerState, runID: UInt64) throws -> ClientSnapshot? {
        let path = url(client).path
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let bytes = [UInt8](data)
        var offset = 0
        struct Bad: Error {}
        func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
            let n = MemoryLayout<T>.size
            guard offset + n <= bytes.count else { throw Bad() }
            var x: T = 0
            for i in 0..<n { x |= T(bytes[offset + i]) << (8 * i) }
            offset += n
            return x
        }
        func readState() throws -> OptimizerState? {
            guard try read(UInt8.self) == 1 else { return nil }
            var state = template
            state.step = Int(try read(UInt64.self))
            guard Int(try read(UInt16.self)) == template.transforms.count else { throw Bad() }
            for i in state.transforms.indices {
                guard Int(try read(UInt16.self)) == template.transforms[i].names.count else { throw Bad() }
                let scalars = Int(try read(UInt16.self))
                guard scalars == template.transforms[i].scalars.count else { throw Bad() }
                state.transforms[i].scalars = try (0..<scalars).map { _ in Double(bitPattern: try read(UInt64.self)) }
                let count = Int(try read(UInt32.self))
                guard count == template.transforms[i].storage.count, offset + 4 * count <= bytes.count else { throw Bad() }
                state.transforms[i].storage = bytes.withUnsafeBytes { raw in
                    (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4 * $0, as: UInt32.self))) }
                }
                offset += 4 * count
            }
            return state
        }
        do {
            guard bytes.count >= 4, Array(bytes[0..<4]) == Array("FSNP".utf8) else { throw Bad() }
            offset = 4
            guard try read(UInt16.self) == 1 else { throw Bad() }
            let stamp = try read(UInt64.self)
            guard stamp == fingerprint else {
                throw RunInputError("\(path) belongs to another topology (fingerprint \(String(stamp, radix: 16))); use another --state-dir")
            }
            guard try read(UInt64.self) == runID else { return nil }  // an earlier run of this topology: start fresh
            guard Int(try read(UInt32.self)) == client else { throw Bad() }
            let last = try read(Int64.self)
            let current = try readState(), before = try readState()
            guard offset == bytes.count else { throw Bad() }
            return ClientSnapshot(client: client, state: current, lastRound: last < 0 ? nil : Int(last), stateBeforeLastRound: before)
        } catch is Bad {
            throw RunInputError("\(path) is not a valid FedSim client snapshot for this optimizer (delete it to start that client afresh)")
        }
    }
}
