import FedProtocol
import FedSimulation
import FedTopology
import FedTransport
import FedTransportZMQ
import FedWire
import Foundation

/// A client process's loop: it hosts many virtual clients, connects a DEALER socket to the
/// coordinator, says HELLO, hands whatever tasks arrive to its training worker and sends the
/// updates back. It heartbeats when idle — also while the worker trains — reconnects with
/// back-off (1 s doubling to 32 s) when the coordinator falls silent, and keeps each *persist*
/// client's state in its `ClientStateFile` (fsynced before the updates leave), so a restarted
/// process carries on where it stopped. Its rules are driven by the messages that
/// arrive and an injected clock, over sockets from `dial` (ZeroMQ in a run, memory in tests).
/// Confined to the thread that calls `run()`.
public final class ClientHost {
    public let spec: ClusterSpec
    public var codec: WireCodec { wire.codec }
    public let events: EventLog
    private let wire: RunWire
    /// Opens a new connection to the coordinator; `n` counts connections from 1.
    private let dial: (_ n: Int) throws -> MessageSocket
    private let clock: RunClock
    private let worker: TrainingWorker
    private let ranges: [ClosedRange<Int>]
    let states: ClientStateFile?
    private let shouldStop: () -> Bool
    private var connection = 0
    /// Tests only: runs right after the loop looked at the worker, before it waits, so a test can
    /// let a training end exactly there — where the lost wakeup happened.
    var afterTakingOutcomes: ((TrainingWorker) -> Void)?

    init(
        dial: @escaping (_ n: Int) throws -> MessageSocket, clock: RunClock = SystemClock(), spec: ClusterSpec,
        wire: RunWire,
        worker: TrainingWorker, ranges: [ClosedRange<Int>], events: EventLog,
        shouldStop: @escaping () -> Bool = { false }
    ) {
        self.dial = dial
        self.clock = clock
        self.spec = spec
        self.wire = wire
        self.worker = worker
        self.ranges = ranges
        self.states = worker.states
        self.events = events
        self.shouldStop = shouldStop
    }

    /// The run instance the coordinator named in WELCOME; snapshots are restored for it.
    private var runID: UInt64?
    /// Seconds to wait before the next reconnect: 1, doubling to 32; a WELCOME resets it.
    private var backoff = 1.0
    /// When to say HELLO again after the coordinator refused it (ids still held by a live peer).
    private var helloAgainAt: Double?
    /// Messages read in one go before the loop looks at the worker again, so a burst of TASKs
    /// is queued whole (and trains as one batch) while a flood cannot hold the loop.
    static let messagesPerPump = 64
    /// Finished updates held back at most, waiting for the rest of their batch.
    static let updatesPerBatch = 64

    /// Runs until SHUTDOWN (returns 0) or a fatal error from the coordinator (returns 2), or
    /// until `shouldStop` (returns 130).
    ///
    /// Updates leave in batches: once every task that arrived has trained (or 64 updates wait),
    /// the clients' states go to disk with one fsync and all the updates leave after it — one
    /// fsync per process per round, not one per update, and a process or machine that dies after
    /// the updates left restarts from the states the coordinator's aggregate already reflects.
    /// Between batches the loop waits in one poll for a message, the worker's `wakeup` (a job
    /// ended) or the next heartbeat, so it neither spins nor oversleeps while the worker trains.
    public func run() throws -> Int32 {
        defer { worker.submit(.stop) }
        var socket = try connect()
        var lastHeard = clock.now
        var lastSent = clock.now
        while true {
            if shouldStop() { return 130 }
            if socket.refusedByPeer {
                events.log(
                    "the coordinator refused this process's CURVE key: it is not on its allow-list "
                        + "(cluster.curve.clients), or the coordinator's key is not cluster.curve.coordinator")
                return 2
            }
            if let at = helloAgainAt, clock.now >= at {
                helloAgainAt = nil
                try send(.hello(ranges: ranges), on: socket)
            }
            // Lowered before the worker is looked at: a job that ends from here on raises it again,
            // so the poll below returns at once instead of waiting past it.
            worker.wakeup.clear()
            if !worker.isBusy || worker.outcomeCount >= Self.updatesPerBatch {
                if let status = try flush(worker.take(), on: socket, lastSent: &lastSent) { return status }
            }
            afterTakingOutcomes?(worker)
            // One expression for when the next heartbeat is due, here and below: `now - lastSent >=
            // interval` can stay false while `lastSent + interval - now` is already 0 (rounding).
            var nextHeartbeat = lastSent + spec.heartbeatInterval
            var frames = try socket.receive(
                timeout: min(spec.heartbeatInterval / 2, max(0, nextHeartbeat - clock.now)), wakeup: worker.wakeup)
            let now = clock.now
            if frames != nil {
                lastHeard = now
                var read = 0
                while let message = frames {
                    if let status = try handle(message, on: socket, now: now) { return status }
                    read += 1
                    frames = read < Self.messagesPerPump ? try socket.receive(timeout: 0) : nil
                }
            } else if now - lastHeard > spec.heartbeatInterval * Double(spec.liveness) {
                events.log(
                    "coordinator silent for \(String(format: "%.1f", now - lastHeard)) s; reconnecting in "
                        + "\(Int(backoff)) s"
                )
                socket.close()
                let wakeUp = clock.now + backoff
                while clock.now < wakeUp {
                    if shouldStop() { return 130 }
                    clock.sleep(min(0.05, wakeUp - clock.now))
                }
                backoff = min(backoff * 2, 32)
                socket = try connect()
                lastHeard = clock.now
            }
            nextHeartbeat = lastSent + spec.heartbeatInterval
            if clock.now >= nextHeartbeat {
                try send(.heartbeat, on: socket)
                lastSent = clock.now
            }
        }
    }

    /// Sends what the worker finished, its clients' states on disk first (one fsync for all).
    /// Returns an exit status when an outcome ends the process.
    private func flush(
        _ outcomes: [TrainingWorker.Outcome], on socket: MessageSocket, lastSent: inout Double
    )
        throws -> Int32?
    {
        if let states, outcomes.contains(where: { if case .update = $0 { true } else { false } }) {
            do { try states.sync() } catch {
                events.log("could not write the clients' optimizer states: \(error)")
                events.count("snapshot_failures")
            }
        }
        for outcome in outcomes {
            switch outcome {
            case .update(let update):
                try send(.update(update), on: socket)
                lastSent = clock.now
            case .restored(let count):
                if count > 0, let states {
                    events.log("restored the optimizer state of \(count) client(s) from \(states.url.path)")
                }
            case .fatal(let error):
                events.log("error: \(error)")
                return 2
            }
        }
        return nil
    }

    /// Acts on one message from the coordinator. Returns an exit status when it ends the process.
    private func handle(_ frames: [Frame], on socket: MessageSocket, now: Double) throws -> Int32? {
        let message: WireMessage
        do {
            message = try codec.decode(frames, stateTemplate: wire.stateTemplate)
        } catch {
            events.log("rejected a message from the coordinator: \(error)")
            events.count("rejected")
            return nil
        }
        switch message {
        case .welcome(let completed, let id):
            backoff = 1
            let hosted = ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            let who = hosted.joined(separator: ", ")
            events.log(
                "joined the coordinator (connection \(connection)) as clients \(who); "
                    + "run \(String(format: "%016llx", id)), \(completed) round(s) done")
            if id != runID {
                runID = id
                worker.submit(.restore(runID: id))
            }
        case .task(let task):
            guard ranges.contains(where: { $0.contains(task.clientID) }) else {
                events.log("rejected a task for client \(task.clientID), which this process does not host")
                try send(
                    .error(code: .clientNotHosted, message: "client \(task.clientID) is not hosted here"),
                    on: socket)
                return nil
            }
            worker.submit(.train(task, runID: runID ?? 0))
        case .heartbeat:
            break
        case .shutdown:
            events.log("the coordinator ended the run; leaving")
            return 0
        case .error(let code, let text):
            events.log("coordinator error \(code): \(text)")
            if code == .wrongRun {
                let differing = wire.differingParts(text)
                if !differing.isEmpty {
                    events.log(
                        "this process's \(differing.joined(separator: ", ")) differ(s) from the coordinator's: "
                            + "run both from the same topology (those sections), seed and data files")
                }
            }
            if code == .unknownPeer { try send(.hello(ranges: ranges), on: socket) }  // it restarted
            // Ids still held by a live peer: ask again once their holder may be dead.
            if code == .clientIDsHeld { helloAgainAt = now + spec.heartbeatInterval }
            if code.isFatal { return 2 }  // wrong run, version or ids
        case .hello, .update:
            events.log("rejected a \(message.kindName) from the coordinator")
        }
        return nil
    }

    private func connect() throws -> MessageSocket {
        connection += 1
        let socket = try dial(connection)
        try send(.hello(ranges: ranges), on: socket)
        return socket
    }

    private func send(_ message: WireMessage, on socket: MessageSocket) throws {
        try socket.send(codec.encode(message))
    }
}

extension ClientHost {
    /// A host for the clients in `ranges` of a prepared run, restoring their snapshots from
    /// `stateDirectory`; `dial` opens each connection to the coordinator.
    public static func make(
        prepared: PreparedRun, ranges: [ClosedRange<Int>], stateDirectory: URL?, events: EventLog,
        clock: RunClock = SystemClock(), shouldStop: @escaping () -> Bool,
        dial: @escaping (_ connection: Int) throws -> MessageSocket
    ) throws -> ClientHost {
        let first = ranges.map(\.lowerBound).min()!
        let last = ranges.map(\.upperBound).max()!
        let persists = prepared.groups.contains { $0.state == .persist }
        let states = try stateDirectory.flatMap { directory -> ClientStateFile? in
            guard persists else { return nil }
            return try ClientStateFile(
                // Named by range and fingerprint: another topology's states in the same
                // directory are neither restored nor overwritten.
                url: directory.appendingPathComponent("states-\(first)-\(last)-\(prepared.fingerprintHex).bin"),
                fingerprint: prepared.fingerprint,
                firstClient: first, clients: last - first + 1,
                halfBytes: ClientStateFile.halfBytes(for: prepared.groups.indices.map(prepared.persistentTemplate)))
        }
        let worker = TrainingWorker(
            prepared: prepared, ids: ranges.flatMap { Array($0) }, states: states,
            threads: prepared.topology.threadCount)
        return ClientHost(
            dial: dial, clock: clock, spec: prepared.topology.cluster, wire: RunWire(prepared), worker: worker,
            ranges: ranges, events: events, shouldStop: shouldStop)
    }

    /// A host whose connections are ZeroMQ DEALER sockets to `endpoint` (see `dealer`).
    /// - Parameter curve: the coordinator's public key and this process's key pair: every
    ///   connection is then CURVE-encrypted and authenticated.
    public static func make(
        prepared: PreparedRun, ranges: [ClosedRange<Int>], context: ZMQContext, endpoint: String,
        stateDirectory: URL?, events: EventLog, curve: (serverKey: String, keys: CurveKeyPair)? = nil,
        shouldStop: @escaping () -> Bool
    ) throws -> ClientHost {
        let maxFrame = RunWire(prepared).codec.maxFrameBytes
        let first = ranges.first!.lowerBound
        let last = ranges.last!.upperBound
        return try make(
            prepared: prepared, ranges: ranges, stateDirectory: stateDirectory, events: events, shouldStop: shouldStop
        ) {
            try dealer(
                context: context, endpoint: endpoint, routingID: routingID(first: first, last: last, connection: $0),
                maxFrameBytes: maxFrame, curve: curve)
        }
    }

    /// One connection's DEALER socket, connected to `endpoint`, frame limit set.
    static func dealer(
        context: ZMQContext, endpoint: String, routingID: String, maxFrameBytes: Int64,
        curve: (serverKey: String, keys: CurveKeyPair)?
    ) throws -> ZMQSocket {
        let socket = try ZMQSocket(context: context, kind: .dealer)
        try socket.setRoutingID(routingID)
        try socket.setMaxMessageSize(maxFrameBytes)
        if let curve {
            try socket.makeCurveClient(serverKey: curve.serverKey, keys: curve.keys)
            try socket.watchForRefusedKeys()
        }
        try socket.connect(endpoint)
        return socket
    }

    /// A connection's routing id: readable in `events.log` (`clients-A-B-pid<PID>-c<n>-<nonce>`)
    /// and not guessable. A ROUTER refuses a second connection with an id it already has, so a
    /// predictable id (the PID and a counter, as before) let a stranger who connected first
    /// under it keep the process out until the join timeout. The nonce comes from the system's
    /// random source: it moves no number of the run.
    static func routingID(first: Int, last: Int, connection: Int) -> String {
        let nonce = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let padded = String(repeating: "0", count: 16 - nonce.count) + nonce
        return "clients-\(first)-\(last)-pid\(getpid())-c\(connection)-\(padded)"
    }
}
