import FedTransport
import Synchronization

/// A clock that moves only when told to — or when a memory socket waits on it, which moves it
/// by the whole wait at once. Minutes of deadlines, heartbeats and back-off run in microseconds.
public final class ManualClock: RunClock {
    private let seconds: Mutex<Double>

    public init(start: Double = 1000) { seconds = Mutex(start) }

    public var now: Double { seconds.withLock { $0 } }
    public func advance(by delta: Double) { seconds.withLock { $0 += max(0, delta) } }
    public func sleep(_ delta: Double) { advance(by: delta) }
}

/// Why a memory socket refused a message.
public enum MemorySocketError: Error, Equatable, CustomStringConvertible {
    /// The ROUTER has no peer with this id (libzmq's EHOSTUNREACH under ROUTER_MANDATORY).
    case hostUnreachable(String)
    /// A blocking send to a full queue: on a real socket it would wait until the peer reads.
    case wouldBlock
    case closed

    public var description: String {
        switch self {
        case .hostUnreachable(let id): "no peer with routing id \(id)"
        case .wouldBlock: "the peer's queue is full; a blocking send would wait forever"
        case .closed: "socket closed"
        }
    }
}

/// An in-memory ROUTER with any number of DEALERs, all on one thread: what FedSim's ZeroMQ
/// sockets do, minus the bytes on a wire. Each peer's messages arrive in order, and the ROUTER
/// reads its peers fairly, round-robin, as libzmq does; a ROUTER message to an unknown or closed
/// peer throws, as with ROUTER_MANDATORY; a peer's queue holds `capacity` messages (its
/// high-water mark), beyond which a `dontWait` send returns false and a blocking send — which
/// would wait forever on a real socket — is counted in `blockedSends` and throws. DEALER
/// messages to a closed ROUTER vanish, as they would on a real network.
///
/// Every receive first lets the network's *actors* run (scripted peers in a test: each looks at
/// its inbox and answers); a socket whose queue is still empty then moves the `ManualClock` by
/// the whole timeout, lets the actors run once more, and returns what arrived. So a test drives the real
/// coordinator or client host with scripted peers, deterministically, without threads.
///
/// Not thread-safe: one network, its sockets and its actors live on one thread.
public final class MemoryNetwork {
    public let clock: ManualClock
    /// Protocol time each message the ROUTER reads costs (0: reading is free), so a flood takes time.
    public var secondsPerMessage: Double = 0
    /// Per-peer inboxes of the ROUTER, read round-robin.
    fileprivate var routerInbox: [Frame: [[Frame]]] = [:]
    fileprivate var readOrder: [Frame] = []
    fileprivate var nextReader = 0
    fileprivate var routerHasMail: Bool { routerInbox.values.contains { !$0.isEmpty } }
    fileprivate var routerOpen = false
    fileprivate var dealers: [Frame: MemoryDealer] = [:]
    private var actors: [() -> Void] = []
    private var acting = false

    public init(clock: ManualClock = ManualClock()) { self.clock = clock }

    /// The ROUTER side (one per network).
    public func router() -> MemoryRouter {
        routerOpen = true
        return MemoryRouter(network: self)
    }

    /// A DEALER connected to the router with routing id `id`, whose queue holds `capacity`
    /// messages. A new dealer with the id of a closed one takes its place (a reconnect).
    public func dealer(id: String, capacity: Int = 1000) -> MemoryDealer {
        let dealer = MemoryDealer(network: self, identity: Array(id.utf8), capacity: capacity)
        dealers[dealer.identity] = dealer
        return dealer
    }

    /// Adds a scripted peer, run whenever a socket finds its queue empty.
    public func addActor(_ act: @escaping () -> Void) { actors.append(act) }

    /// Lets every actor look at what reached it (e.g. after the last message of a test).
    public func settle() { runActors() }

    fileprivate func runActors() {
        guard !acting else { return }  // an actor's own receive must not re-enter the others
        acting = true
        defer { acting = false }
        for act in actors { act() }
    }

    /// The next message for the ROUTER: the next peer in round-robin order that has one.
    fileprivate func takeForRouter() -> [Frame]? {
        guard !readOrder.isEmpty else { return nil }
        for step in 0..<readOrder.count {
            let index = (nextReader + step) % readOrder.count
            let peer = readOrder[index]
            if var queue = routerInbox[peer], !queue.isEmpty {
                let message = queue.removeFirst()
                routerInbox[peer] = queue
                nextReader = (index + 1) % readOrder.count
                clock.advance(by: secondsPerMessage)
                return [peer] + message
            }
        }
        return nil
    }

    /// Every receive lets the actors run first (peers work while a socket reads, even when its
    /// queue is never empty); an empty queue then costs the whole timeout, unless the wait's
    /// wakeup is raised (by a real thread, e.g. a client host's training), which ends it at once.
    fileprivate func wait(_ timeout: Double, wakeup: Wakeup?, until ready: () -> Bool) {
        runActors()
        if ready() || acting || wakeup?.isRaised == true { return }
        clock.advance(by: timeout)
        runActors()
    }
}

/// The coordinator's side: frame 0 of each message is the peer's routing id.
public final class MemoryRouter: MessageSocket {
    private let network: MemoryNetwork
    private var isClosed = false
    /// Every message this router sent, routing id first (for assertions).
    public private(set) var sent: [[Frame]] = []
    /// Sends that would have blocked forever on a real socket (a blocking send to a full queue).
    public private(set) var blockedSends = 0

    fileprivate init(network: MemoryNetwork) { self.network = network }

    public func send(_ parts: [OutgoingFrame], dontWait: Bool) throws -> Bool {
        guard !isClosed else { throw MemorySocketError.closed }
        let frames = parts.map(\.received)
        guard let identity = frames.first else { return true }
        guard let dealer = network.dealers[identity], !dealer.isClosed else {
            throw MemorySocketError.hostUnreachable(String(decoding: identity, as: UTF8.self))
        }
        if dealer.inbox.count >= dealer.capacity {
            if dontWait { return false }
            blockedSends += 1
            throw MemorySocketError.wouldBlock
        }
        sent.append(frames)
        dealer.inbox.append(Array(frames.dropFirst()))
        return true
    }

    public func receive(timeout: Double, wakeup: Wakeup?) throws -> [Frame]? {
        guard !isClosed else { throw MemorySocketError.closed }
        network.wait(timeout, wakeup: wakeup) { network.routerHasMail }
        return network.takeForRouter()
    }

    public func close() {
        isClosed = true
        network.routerOpen = false
    }
}

/// A client process's side.
public final class MemoryDealer: MessageSocket {
    private let network: MemoryNetwork
    public let identity: Frame
    public let capacity: Int
    fileprivate var inbox: [[Frame]] = []
    public fileprivate(set) var isClosed = false

    fileprivate init(network: MemoryNetwork, identity: Frame, capacity: Int) {
        self.network = network
        self.identity = identity
        self.capacity = capacity
    }

    public func send(_ parts: [OutgoingFrame], dontWait: Bool) throws -> Bool {
        guard !isClosed else { throw MemorySocketError.closed }
        if network.routerOpen {
            if network.routerInbox[identity] == nil { network.readOrder.append(identity) }
            network.routerInbox[identity, default: []].append(parts.map(\.received))
        }
        return true
    }

    public func receive(timeout: Double, wakeup: Wakeup?) throws -> [Frame]? {
        guard !isClosed else { throw MemorySocketError.closed }
        network.wait(timeout, wakeup: wakeup) { !inbox.isEmpty }
        return inbox.isEmpty ? nil : inbox.removeFirst()
    }

    /// The next message waiting for this dealer, without waiting (for scripted peers).
    public func take() -> [Frame]? { inbox.isEmpty ? nil : inbox.removeFirst() }

    public func close() { isClosed = true }
}
