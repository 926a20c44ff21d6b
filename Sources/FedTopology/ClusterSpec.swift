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

    public init() {}

    /// The number of updates a round with `sampled` participants needs.
    public func minimumUpdates(sampled: Int) -> Int { max(1, Int((quorum * Double(sampled)).rounded(.up))) }

    static func parse(_ m: ConfigMap) throws -> ClusterSpec {
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
        try m.finish()
        return c
    }

    var node: Node {
        func s(_ x: String) -> Node { Node(x) }
        func d(_ x: Double) -> Node { Node("\(x)") }
        return .mapping(
            Node.Mapping([
                (s("endpoint"), s(endpoint)), (s("processes"), s(String(processes))),
                (s("heartbeat_interval"), d(heartbeatInterval)), (s("liveness"), s(String(liveness))),
                (s("round_timeout"), d(roundTimeout)), (s("quorum"), d(quorum)),
                (s("on_quorum_failure"), s(onQuorumFailure.rawValue)), (s("retries"), s(String(retries))),
                (s("join_timeout"), d(joinTimeout)),
            ]))
    }
}
