import FedConfig
import FedTransport
import Foundation
import Yams

/// How a run is spread over processes: the `cluster` section of a topology. It changes how
/// bytes move, never the numbers, so it is left out of the run fingerprint.
public struct ClusterSpec: Sendable, Equatable {
    /// What to do when a round's quorum is not met by its deadline.
    public enum QuorumFailure: String, Sendable, CaseIterable { case retry, stop }

    /// `tcp://127.0.0.1:PORT`, `ipc:///path`, `inproc://name`, or `auto` (a fresh `ipc://` path
    /// for `fedsim cluster`; a free 127.0.0.1 port for a lone `fedsim coordinator`).
    public var endpoint: String = "auto"
    /// Client processes `fedsim cluster` starts; the clients are split evenly among them.
    public var processes: Int = 2
    /// Seconds between heartbeats when a side has nothing else to say.
    public var heartbeatInterval: Double = 1
    /// Missed heartbeat intervals before a peer is declared dead.
    public var liveness: Int = 3
    /// Seconds a round waits for updates.
    public var roundTimeout: Double = 120
    /// Share of a round's sampled clients whose updates must arrive, in (0, 1].
    public var quorum: Double = 1
    public var onQuorumFailure: QuorumFailure = .retry
    /// Retries of a round that missed its quorum before the run stops.
    public var retries: Int = 2
    /// Seconds the coordinator waits for every client to join before the first round.
    public var joinTimeout: Double = 60
    /// CURVE encryption and client keys (`curve: {coordinator, clients}`); nil: none.
    public var curve: CurveSpec?
    /// Lets a run without CURVE bind or connect to an endpoint other than loopback.
    public var insecure = false
    /// Bytes the coordinator queues for one connection at most: its inbound queue holds
    /// ⌊peerQueueBytes / frame limit⌋ messages (at least one), so a flood of large frames from
    /// one peer is bounded whatever the coordinator is doing.
    public var peerQueueBytes = 64 << 20

    /// Where a run's CURVE keys are: the coordinator's public key (every process needs it) and
    /// the coordinator's allow-list of client keys and the ids each may hold. Absolute paths
    /// (the parser resolves them against the topology's folder).
    public struct CurveSpec: Sendable, Equatable {
        public var coordinatorKey: String
        public var clients: String?
        public init(coordinatorKey: String, clients: String?) {
            self.coordinatorKey = coordinatorKey
            self.clients = clients
        }
    }

    /// Whether `endpoint` reaches only this machine (loopback tcp, ipc, inproc, auto): such a
    /// run may go without CURVE.
    public static func isLocal(_ endpoint: String) -> Bool {
        guard endpoint.hasPrefix("tcp://") else { return true }
        let rest = endpoint.dropFirst("tcp://".count)
        let host =
            rest.hasPrefix("[") ? String(rest.prefix { $0 != "]" }.dropFirst()) : String(rest.prefix { $0 != ":" })
        return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    public init() {}

    /// The messages one connection's inbound queue may hold: as many frames of the largest
    /// allowed size as fit in `peerQueueBytes`, at least one.
    public func peerQueueMessages(maxFrameBytes: Int64) -> Int32 {
        Int32(clamping: max(1, min(Int64(peerQueueBytes) / max(1, maxFrameBytes), 1_000_000)))
    }

    /// The number of updates a round with `sampled` participants needs.
    public func minimumUpdates(sampled: Int) -> Int { max(1, Int((quorum * Double(sampled)).rounded(.up))) }

    static func parse(_ m: ConfigMap, resolve: (String) -> String) throws -> ClusterSpec {
        m.expected = TopologyKeys.of("cluster")
        var c = ClusterSpec()
        if let endpoint = try m.string("endpoint") {
            if endpoint != "auto" {
                do { _ = try Endpoint(parsing: endpoint) } catch { throw m.error("endpoint", "\(error) (or auto)") }
            }
            c.endpoint = endpoint
        }
        c.processes = try m.int("processes", default: c.processes, in: 1...256)
        c.heartbeatInterval = try m.double(
            "heartbeat_interval", default: c.heartbeatInterval,
            in: NumberRange(lower: 0.01, lowerInclusive: true, upper: 3600, upperInclusive: true))
        c.liveness = try m.int("liveness", default: c.liveness, in: 1...1000)
        c.roundTimeout = try m.double(
            "round_timeout", default: c.roundTimeout,
            in: NumberRange(lower: 0.05, lowerInclusive: true, upper: 86_400, upperInclusive: true))
        c.quorum = try m.double(
            "quorum", default: c.quorum,
            in: NumberRange(lower: 0, lowerInclusive: false, upper: 1, upperInclusive: true))
        c.onQuorumFailure = try m.choice("on_quorum_failure", default: c.onQuorumFailure)
        c.retries = try m.int("retries", default: c.retries, in: 0...1000)
        c.joinTimeout = try m.double(
            "join_timeout", default: c.joinTimeout,
            in: NumberRange(lower: 0.1, lowerInclusive: true, upper: 86_400, upperInclusive: true))
        if let curve = try m.map("curve") {
            curve.expected = TopologyKeys.of("cluster.curve")
            guard let key = try curve.string("coordinator") else {
                throw curve.error(nil, "missing required key 'coordinator' (the coordinator's public key file)")
            }
            c.curve = CurveSpec(coordinatorKey: resolve(key), clients: try curve.string("clients").map(resolve))
            try curve.finish()
        }
        c.insecure = try m.bool("insecure", default: false)
        c.peerQueueBytes = try m.int("peer_queue_bytes", default: c.peerQueueBytes, in: 65_536...(1 << 40))
        try m.finish()
        return c
    }

    var node: Node {
        func s(_ x: String) -> Node { Node(x) }
        func d(_ x: Double) -> Node { Node("\(x)") }
        return .mapping(
            Node.Mapping(
                [
                    (s("endpoint"), s(endpoint)), (s("processes"), s(String(processes))),
                    (s("heartbeat_interval"), d(heartbeatInterval)), (s("liveness"), s(String(liveness))),
                    (s("round_timeout"), d(roundTimeout)), (s("quorum"), d(quorum)),
                    (s("on_quorum_failure"), s(onQuorumFailure.rawValue)), (s("retries"), s(String(retries))),
                    (s("join_timeout"), d(joinTimeout)), (s("insecure"), s(String(insecure))),
                    (s("peer_queue_bytes"), s(String(peerQueueBytes))),
                ]
                    + (curve.map { curve in
                        [
                            (
                                s("curve"),
                                .mapping(
                                    Node.Mapping(
                                        [(s("coordinator"), s(curve.coordinatorKey))]
                                            + (curve.clients.map { [(s("clients"), s($0))] } ?? [])))
                            )
                        ]
                    } ?? [])))
    }
}
