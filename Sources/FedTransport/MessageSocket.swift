import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// The seam between "what a federation says" and "how bytes move": a socket that sends and
/// receives whole multipart messages. The coordinator's and client host's rules talk to this
/// protocol only, so they run over ZeroMQ (`FedTransportZMQ`) in a real run and over
/// `FedTransportMemory`'s in-memory pair in tests that need no processes.
///
/// Threading: a socket is confined to the thread that uses it; it is never shared.
/// Addressing: on the coordinator's (ROUTER) side frame 0 of every message is the peer's
/// routing id — received messages start with it, and sent messages must.
public protocol MessageSocket: AnyObject {
    /// Queues a multipart message. Returns false when it could not be queued now (with
    /// `dontWait`, a full queue); throws when the peer is unreachable or the socket is closed.
    @discardableResult
    func send(_ parts: [OutgoingFrame], dontWait: Bool) throws -> Bool

    /// Waits up to `timeout` seconds for a message — or, with a `wakeup`, until it is raised;
    /// nil when no message arrived.
    func receive(timeout: Double, wakeup: Wakeup?) throws -> [Frame]?

    /// The authenticated key of the last received message's sender (CURVE), if any.
    var lastSenderKey: String? { get }

    /// Whether the peer refused this socket's credentials (a CURVE key it does not know).
    var refusedByPeer: Bool { get }

    /// Closes the socket; later calls throw.
    func close()
}

extension MessageSocket {
    @discardableResult
    public func send(_ parts: [OutgoingFrame]) throws -> Bool { try send(parts, dontWait: false) }

    /// Waits up to `timeout` seconds for a message; nil when none arrived.
    public func receive(timeout: Double) throws -> [Frame]? { try receive(timeout: timeout, wakeup: nil) }
}

/// Monotonic seconds, as the coordinator's and client host's deadlines, heartbeats and
/// liveness read them. Injected, so tests can run minutes of protocol time in milliseconds.
public protocol RunClock: AnyObject, Sendable {
    var now: Double { get }
    /// Waits `seconds` (a manual clock just moves on).
    func sleep(_ seconds: Double)
}

/// The machine's monotonic clock.
public final class SystemClock: RunClock {
    public init() {}
    public var now: Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    public func sleep(_ seconds: Double) { usleep(useconds_t(max(0, seconds) * 1e6)) }
}

extension MessageSocket {
    /// Transports without authentication know no sender key.
    public var lastSenderKey: String? { nil }
    public var refusedByPeer: Bool { false }
}
