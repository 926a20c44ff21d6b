import FedCoordinator
import FedOptim
import FedProtocol
import FedSimulation
import FedTopology
import FedTransport
import FedTransportZMQ
import FedWire
import Foundation

/// Why a distributed run stopped.
public enum ClusterError: Error, CustomStringConvertible {
    case joinTimeout(missing: [Int])
    case quorum(round: Int, got: Int, needed: Int)
    case interrupted

    public var description: String {
        switch self {
        case .joinTimeout(let missing):
            let shown = missing.prefix(10).map(String.init).joined(separator: ", ")
            return
                "clients \(shown)\(missing.count > 10 ? " … (\(missing.count) in all)" : "") did not join before "
                + "cluster.join_timeout"
        case .quorum(let round, let got, let needed):
            return
                "round \(round): \(got) update(s) arrived, the quorum needs \(needed) (cluster.quorum, cluster.retries)"
        case .interrupted:
            return "interrupted"
        }
    }
}

/// The coordinator's side of the wire: a ROUTER socket, the client processes that joined, and
/// a `ClientPool` that sends each round's tasks to the processes hosting the sampled clients.
/// Its rules — joins, deadlines, retries, quorum, heartbeats, liveness, what to reject — are
/// driven by the messages that arrive and an injected clock, over any `MessageSocket`: ZeroMQ
/// in a run, `FedTransportMemory` in tests. Confined to the thread that drives the run.
public final class ClusterCoordinator: ClientPool {
    struct Peer {
        var ranges: [ClosedRange<Int>]
        var lastSeen: Double
        var lastSent: Double
        var alive = true
    }

    public let spec: ClusterSpec
    public let codec: WireCodec
    public let clientCount: Int
    public let events: EventLog
    public let boundEndpoint: String
    public private(set) var roundsCompleted: Int
    /// This run instance's id, sent in WELCOME (client snapshots are stamped with it).
    public let runID: UInt64
    private let socket: MessageSocket
    private let clock: RunClock
    private let stateTemplate: (Int) -> OptimizerState?
    private let shouldStop: () -> Bool
    private var peers: [Frame: Peer] = [:]
    private var owner: [Int: Frame] = [:]
    private var currentRound = 0
    /// The round being collected: tasks still waiting for an update, and updates accepted.
    private final class ActiveRound {
        var pending: [Int: ClientTask] = [:]
        var accepted: [Int: ClientUpdate] = [:]
    }
    private var active: ActiveRound?
    /// The CURVE allow-list, when the run has one: which ids each client key may hold.
    private var clientKeys: ClientKeyList?
    /// The ZAP handler behind the CURVE socket (stopped at shutdown).
    private var authenticator: CurveAuthenticator?
    /// This run's fingerprint parts, sent in ERROR 2 so a client of another run can say what differs.
    public var fingerprintParts: String?

    /// - Parameters:
    ///   - stateTemplate: a fresh optimizer state for a client (slot names for decoding
    ///     aggregated states); nil for clients whose policy is not *aggregate*.
    ///   - shouldStop: polled while waiting; true ends the wait with `ClusterError.interrupted`.
    ///   - socket: a bound ROUTER socket (frame 0 of every message is the peer's routing id).
    public init(
        socket: MessageSocket, boundEndpoint: String, codec: WireCodec, spec: ClusterSpec, clientCount: Int,
        events: EventLog, roundsCompleted: Int = 0, runID: UInt64, stateTemplate: @escaping (Int) -> OptimizerState?,
        clock: RunClock = SystemClock(), shouldStop: @escaping () -> Bool = { false }
    ) {
        self.socket = socket
        self.boundEndpoint = boundEndpoint
        self.clock = clock
        self.spec = spec
        self.codec = codec
        self.clientCount = clientCount
        self.events = events
        self.roundsCompleted = roundsCompleted
        self.runID = runID
        self.stateTemplate = stateTemplate
        self.shouldStop = shouldStop
    }

    /// A coordinator on a ZeroMQ ROUTER bound to `endpoint` (ROUTER_MANDATORY, frame limit set).
    /// - Parameter security: CURVE keys: the coordinator's pair and the client allow-list. Every
    ///   connection is then encrypted, only listed keys complete a handshake, and a key may
    ///   claim only its own ids.
    public static func bind(
        context: ZMQContext, endpoint: String, codec: WireCodec, spec: ClusterSpec, clientCount: Int,
        events: EventLog, roundsCompleted: Int, runID: UInt64, stateTemplate: @escaping (Int) -> OptimizerState?,
        security: (keys: CurveKeyPair, clients: ClientKeyList)? = nil, shouldStop: @escaping () -> Bool
    ) throws -> ClusterCoordinator {
        let socket = try ZMQSocket(context: context, kind: .router)
        try socket.setRouterMandatory()
        try socket.setMaxMessageSize(codec.maxFrameBytes)
        try socket.setReceiveHighWaterMark(spec.peerQueueMessages(maxFrameBytes: codec.maxFrameBytes))
        try socket.setLinger(1)  // at shutdown, up to a second to deliver SHUTDOWN
        var authenticator: CurveAuthenticator?
        if let security {
            authenticator = try CurveAuthenticator(context: context, allowed: Set(security.clients.ranges.keys)) {
                key, address in
                events.log(limited: true, "refused a connection from \(address): key \(key) is not on the allow-list")
                events.count("rejected.unknown_key")
            }
            try socket.makeCurveServer(secretKey: security.keys.secretKey)
        }
        let bound: String
        do { bound = try socket.bind(endpoint) } catch {
            authenticator?.stop()
            throw error
        }
        let coordinator = ClusterCoordinator(
            socket: socket, boundEndpoint: bound, codec: codec, spec: spec, clientCount: clientCount,
            events: events, roundsCompleted: roundsCompleted, runID: runID, stateTemplate: stateTemplate,
            shouldStop: shouldStop)
        coordinator.clientKeys = security?.clients
        coordinator.authenticator = authenticator
        return coordinator
    }

    /// Waits until every client id is hosted by a joined process.
    public func waitForClients() throws {
        let deadline = clock.now + spec.joinTimeout
        while owner.count < clientCount {
            if shouldStop() { throw ClusterError.interrupted }
            let now = clock.now
            if now >= deadline {
                throw ClusterError.joinTimeout(missing: (0..<clientCount).filter { owner[$0] == nil })
            }
            try pump(timeout: min(spec.heartbeatInterval, deadline - now))
        }
        events.log("all \(clientCount) clients joined from \(peers.values.filter(\.alive).count) process(es)")
    }

    public func train(_ tasks: [ClientTask]) throws -> [ClientUpdate] {
        guard let round = tasks.first?.round else { return [] }
        let needed = spec.minimumUpdates(sampled: tasks.count)
        var got = 0
        for attempt in 0...spec.retries {
            let updates = try collect(tasks, round: round)
            if updates.count >= needed { return updates }
            got = updates.count
            events.log(
                "round \(round): quorum not met (\(updates.count) of \(needed) needed), attempt \(attempt + 1) of "
                    + "\(spec.retries + 1)"
            )
            events.count("quorum_failures")
            if spec.onQuorumFailure == .stop { break }
        }
        throw ClusterError.quorum(round: round, got: got, needed: needed)
    }

    /// Marks round `round` as finished (clients learn it from the next WELCOME).
    public func finished(round: Int) { roundsCompleted = round }

    /// Tells every process to exit, giving libzmq up to a second to deliver the news.
    public func shutdown() {
        for identity in peers.keys where peers[identity]?.alive == true { _ = try? send(.shutdown, to: identity) }
        socket.close()
        authenticator?.stop()
    }

    // MARK: - One round

    private func collect(_ tasks: [ClientTask], round: Int) throws -> [ClientUpdate] {
        currentRound = round
        let state = ActiveRound()
        for task in tasks { state.pending[task.clientID] = task }
        active = state
        defer { active = nil }
        for task in tasks { sendTask(task) }
        let deadline = clock.now + spec.roundTimeout
        let needed = spec.minimumUpdates(sampled: tasks.count)
        while !state.pending.isEmpty {
            if shouldStop() { throw ClusterError.interrupted }
            let now = clock.now
            if now >= deadline {
                let missing = state.pending.keys.sorted().prefix(10).map(String.init).joined(separator: ", ")
                events.log(
                    "round \(round): deadline passed with \(state.pending.count) update(s) missing (clients \(missing))"
                )
                events.count("deadline_misses", by: state.pending.count)
                break
            }
            let orphaned = state.pending.keys.allSatisfy { id in owner[id].flatMap { peers[$0]?.alive } != true }
            if orphaned && state.accepted.count >= needed {
                let ids = state.pending.keys.sorted().map(String.init).joined(separator: ", ")
                events.log(
                    "round \(round): the processes of clients \(ids) are dead; aggregating \(state.accepted.count) "
                        + "update(s)"
                )
                break
            }
            try pump(timeout: min(spec.heartbeatInterval / 2, deadline - now))
        }
        return state.accepted.values.sorted { $0.clientID < $1.clientID }
    }

    private func sendTask(_ task: ClientTask) {
        guard let identity = owner[task.clientID], peers[identity]?.alive == true else { return }
        do {
            try send(.task(task), to: identity)
        } catch {
            markDead(identity, reason: "send failed: \(error)")
        }
    }

    // MARK: - Messages

    /// Receives for up to `timeout` seconds, handling whatever arrives, and keeps heartbeats
    /// and liveness up to date.
    /// Messages handled per pump before heartbeats and liveness get their turn: a flood from
    /// one socket delays the others' service by at most this many messages.
    static let messagesPerPump = 256

    private func pump(timeout: Double) throws {
        if let frames = try socket.receive(timeout: max(0, timeout)), !frames.isEmpty {
            handle(identity: frames[0], frames: Array(frames.dropFirst()), key: socket.lastSenderKey)
            var handled = 1
            while handled < Self.messagesPerPump, let more = try socket.receive(timeout: 0), !more.isEmpty {
                handle(identity: more[0], frames: Array(more.dropFirst()), key: socket.lastSenderKey)
                handled += 1
            }
        }
        housekeeping()
    }

    /// - Parameter key: the sender's CURVE key (nil without CURVE).
    private func handle(identity: Frame, frames: [Frame], key: String?) {
        let who = describe(identity: identity)
        let message: WireMessage
        do {
            message = try codec.decode(frames, stateTemplate: stateTemplate)
        } catch let error as ProtocolError {
            events.log(limited: true, "rejected a message from \(who): \(error)")
            events.count("rejected.\(error.counterName)")
            if case .fingerprintMismatch = error {
                let parts = fingerprintParts.map { "; parts: \($0)" } ?? ""
                _ = try? send(.error(code: .wrongRun, message: "\(error)\(parts)"), to: identity)
            }
            if case .unsupportedVersion = error {
                _ = try? send(.error(code: .unsupportedVersion, message: "\(error)"), to: identity)
            }
            return
        } catch {
            events.log(limited: true, "rejected a message from \(who): \(error)")
            events.count("rejected.other")
            return
        }
        let now = clock.now
        if case .hello(let ranges) = message {
            if let clientKeys {
                guard let key, clientKeys.allows(key, ranges) else {
                    events.log(
                        limited: true,
                        "refused HELLO from \(who): key \(key ?? "(none)") may not hold clients "
                            + ranges.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ","))
                    events.count("rejected.ids_not_allowed")
                    _ = try? send(
                        .error(code: .clientIDsNotAllowed, message: "this key may not hold those client ids"),
                        to: identity)
                    return
                }
            }
            register(identity, who: who, ranges: ranges)
            return
        }
        guard peers[identity] != nil else {
            events.log(limited: true, "rejected a \(message.kindName) from \(who), which never said HELLO")
            events.count("rejected.unknown_peer")
            _ = try? send(.error(code: .unknownPeer, message: "unknown peer: send HELLO first"), to: identity)
            return
        }
        peers[identity]!.lastSeen = now
        if !peers[identity]!.alive {
            peers[identity]!.alive = true
            events.log("\(who) is answering again")
        }
        switch message {
        case .heartbeat:
            break
        case .error(let code, let text):
            events.log("\(who) reports error \(code): \(text)")
        case .update(let update):
            accept(update, from: identity, who: who)
        case .hello, .welcome, .task, .shutdown:
            events.log(limited: true, "rejected a \(message.kindName) from \(who): clients do not send it")
            events.count("rejected.unexpected_kind")
        }
    }

    private func register(_ identity: Frame, who: String, ranges: [ClosedRange<Int>]) {
        // Ids a live peer holds are not handed over on anyone's say-so: a second HELLO for them
        // is refused until their holder is declared dead (a restarted process then gets them).
        if ranges.allSatisfy({ $0.upperBound < clientCount }) {
            let held = ranges.flatMap { Array($0) }.filter { id in
                guard let holder = owner[id], holder != identity else { return false }
                return peers[holder]?.alive == true
            }
            if let first = held.first {
                events.log(
                    limited: true,
                    "refused HELLO from \(who): \(held.count) of its client ids (first \(first)) are held by "
                        + "\(describe(identity: owner[first]!)), which is alive")
                events.count("rejected.ids_held")
                let more = held.count > 1 ? " and \(held.count - 1) more" : ""
                _ = try? send(
                    .error(code: .clientIDsHeld, message: "client \(first)\(more) held by a live peer"), to: identity)
                return
            }
        }
        guard let bad = ranges.first(where: { $0.upperBound >= clientCount }) else {
            peers[identity] = Peer(ranges: ranges, lastSeen: clock.now, lastSent: 0)
            var moved = 0
            for range in ranges {
                for id in range {
                    if let previous = owner[id], previous != identity { moved += 1 }
                    owner[id] = identity
                }
            }
            let ids = ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(
                separator: ",")
            events.log(
                "\(who) joined with clients \(ids)" + (moved > 0 ? " (\(moved) moved from an earlier process)" : ""))
            _ = try? send(.welcome(roundsCompleted: roundsCompleted, runID: runID), to: identity)
            for task in (active?.pending.values).map(Array.init) ?? [] where owner[task.clientID] == identity {
                sendTask(task)
            }
            return
        }
        events.log(
            limited: true,
            "rejected HELLO from \(who): client range \(bad.lowerBound)-\(bad.upperBound) is outside "
                + "0-\(clientCount - 1)"
        )
        events.count("rejected.bad_hello")
        _ = try? send(
            .error(code: .clientIDsOutOfRange, message: "client ids must be in 0-\(clientCount - 1)"), to: identity)
    }

    private func accept(_ update: ClientUpdate, from identity: Frame, who: String) {
        let id = update.clientID
        guard let state = active, update.round >= currentRound else {
            events.log(
                limited: true,
                "dropped a late update from \(who) (client \(id), round \(update.round); now "
                    + "\(active == nil ? "between rounds" : "round \(currentRound)"))"
            )
            events.count("late_updates")
            return
        }
        if update.round > currentRound {
            events.log(
                limited: true,
                "rejected an update from \(who) for future round \(update.round) (now round \(currentRound))")
            events.count("rejected.wrong_round")
            return
        }
        if state.accepted[id] != nil {
            events.log(limited: true, "rejected a duplicate update from \(who) for client \(id)")
            events.count("rejected.duplicate")
            return
        }
        guard state.pending[id] != nil else {
            events.log(
                limited: true,
                "rejected an update from \(who) for client \(id), which was not sampled in round \(currentRound)")
            events.count("rejected.not_sampled")
            return
        }
        guard owner[id] == identity else {
            events.log(limited: true, "rejected an update from \(who) for client \(id), which it does not host")
            events.count("rejected.not_hosted")
            return
        }
        let expectsState = stateTemplate(id) != nil
        guard (update.state != nil) == expectsState else {
            events.log(
                limited: true,
                "rejected an update from \(who) for client \(id): optimizer state "
                    + "\(expectsState ? "missing" : "unexpected")"
            )
            events.count("rejected.bad_state")
            return
        }
        state.pending[id] = nil
        state.accepted[id] = update
    }

    private func housekeeping() {
        let now = clock.now
        for (identity, peer) in peers where peer.alive {
            if now - peer.lastSeen > spec.heartbeatInterval * Double(spec.liveness) {
                markDead(identity, reason: "silent for \(String(format: "%.1f", now - peer.lastSeen)) s")
            } else if now - peer.lastSent >= spec.heartbeatInterval {
                do { try send(.heartbeat, to: identity) } catch { markDead(identity, reason: "unreachable") }
            }
        }
    }

    private func markDead(_ identity: Frame, reason: String) {
        guard peers[identity]?.alive == true else { return }
        peers[identity]!.alive = false
        events.log("\(describe(identity: identity)) declared dead (\(reason))")
        events.count("dead_peers")
    }

    /// Queues `message` for `identity` without ever waiting: a peer that does not read (its
    /// queue is full) cannot block the coordinator. A message that cannot be queued is dropped
    /// and counted; a task that cannot be queued makes its peer dead (it is not listening).
    private func send(_ message: WireMessage, to identity: Frame) throws {
        guard try socket.send([.bytes(identity)] + codec.encode(message), dontWait: true) else {
            events.count("send_dropped")
            if case .task = message { throw SendQueueFull() }
            return
        }
        peers[identity]?.lastSent = clock.now
    }

    struct SendQueueFull: Error, CustomStringConvertible {
        var description: String { "its queue is full (it does not read)" }
    }
}
