import CZeroMQ
import FedTransport
import Foundation

/// A libzmq failure: the operation, errno and libzmq's own message.
public struct ZMQError: Error, CustomStringConvertible, Equatable {
    public var operation: String
    public var code: Int32
    public var message: String

    public init(operation: String, code: Int32, message: String) {
        self.operation = operation
        self.code = code
        self.message = message
    }

    public var description: String { "\(operation): \(message) (errno \(code))" }

    static func last(_ operation: String) -> ZMQError {
        let code = zmq_errno()
        return ZMQError(operation: operation, code: code, message: String(cString: zmq_strerror(code)))
    }

    /// The peer is not connected (ROUTER_MANDATORY).
    public var isHostUnreachable: Bool { code == EHOSTUNREACH }
}

/// Retries a libzmq call while it fails with EINTR; EAGAIN is returned as nil (a value, not an
/// error); any other failure throws with libzmq's message. Every call into libzmq goes through here.
@discardableResult
func zmqCall(_ operation: String, _ body: () -> Int32) throws -> Int32? {
    while true {
        let rc = body()
        if rc >= 0 { return rc }
        let code = zmq_errno()
        if code == EINTR { continue }
        if code == EAGAIN { return nil }
        throw ZMQError.last(operation)
    }
}

/// A libzmq context. libzmq documents contexts as thread-safe, which is why this wrapper may be
/// shared (`@unchecked Sendable`); sockets made from it are not and stay on one thread.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    public init() throws {
        _ = ZMQContext.heapForLargeFrames
        guard let h = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        handle = h
    }

    /// Once per process, before the first frame: large blocks from the heap, kept for reuse
    /// (`fedsim_keep_large_blocks_on_the_heap` in CZeroMQ's shim says why). A static `let` is
    /// initialized exactly once, whichever thread gets here first.
    private static let heapForLargeFrames: Void = fedsim_keep_large_blocks_on_the_heap()

    deinit {
        // Sockets keep their context alive, so by now every socket is closed and this returns.
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }
}

/// A ZeroMQ socket. Not `Sendable`: a socket is used by one thread at a time (libzmq's rule);
/// FedSim keeps each socket inside the loop that created it.
public final class ZMQSocket {
    public enum Kind: Int32 {
        case dealer = 5  // ZMQ_DEALER
        case router = 6  // ZMQ_ROUTER
        case reply = 4  // ZMQ_REP, for the ZAP handler
        case pair = 0  // ZMQ_PAIR, for socket monitors
    }

    /// The monitor that reports failed CURVE handshakes (`watchForRefusedKeys`).
    private var monitor: ZMQSocket?
    /// Set once the peer refused this socket's key.
    public private(set) var wasRefused = false

    /// The client public key CURVE authenticated for the sender of the last message received
    /// (its ZAP `User-Id`); nil without CURVE.
    public private(set) var lastSenderKey: String?

    private var handle: UnsafeMutableRawPointer?
    /// Keeps the context alive while the socket is open.
    public let context: ZMQContext

    public init(context: ZMQContext, kind: Kind) throws {
        guard let h = zmq_socket(context.handle, kind.rawValue) else { throw ZMQError.last("zmq_socket") }
        handle = h
        self.context = context
        try setOption(ZMQ_LINGER, Int32(0))
    }

    deinit { close() }

    public func close() {
        monitor?.close()
        monitor = nil
        if let h = handle { zmq_close(h) }
        handle = nil
    }

    /// Watches this (client) socket's handshakes: once the peer refuses its credentials (a CURVE
    /// key not on the allow-list), `refusedByPeer` turns true. Call before connect.
    public func watchForRefusedKeys() throws {
        let s = try socket()
        let address = "inproc://fedsim-monitor-\(UInt64.random(in: 0...UInt64.max))"
        try zmqCall("zmq_socket_monitor") { zmq_socket_monitor(s, address, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) }
        let m = try ZMQSocket(context: context, kind: .pair)
        try m.connect(address)
        monitor = m
    }

    /// The libzmq handle, for this module's benchmarks only.
    var rawHandle: UnsafeMutableRawPointer? { handle }

    private func socket() throws -> UnsafeMutableRawPointer {
        guard let handle else { throw ZMQError(operation: "socket", code: ENOTSOCK, message: "socket is closed") }
        return handle
    }

    public func setOption(_ option: Int32, _ value: Int32) throws {
        var v = value
        let s = try socket()
        try zmqCall("zmq_setsockopt(\(option))") { zmq_setsockopt(s, option, &v, MemoryLayout<Int32>.size) }
    }

    public func setOption(_ option: Int32, _ value: Int64) throws {
        var v = value
        let s = try socket()
        try zmqCall("zmq_setsockopt(\(option))") { zmq_setsockopt(s, option, &v, MemoryLayout<Int64>.size) }
    }

    public func setOption(_ option: Int32, bytes: [UInt8]) throws {
        let s = try socket()
        try bytes.withUnsafeBytes { b in
            _ = try zmqCall("zmq_setsockopt(\(option))") { zmq_setsockopt(s, option, b.baseAddress, b.count) }
        }
    }

    /// How long `close()` may wait to deliver queued messages (nil: as long as it takes). FedSim
    /// sockets start at 0, so a dead peer never blocks an exit.
    public func setLinger(_ seconds: Double?) throws {
        try setOption(ZMQ_LINGER, Int32(seconds.map { Int32(($0 * 1000).rounded()) } ?? -1))
    }

    /// ROUTER only: a message to an unknown or disconnected peer fails with EHOSTUNREACH
    /// instead of vanishing silently.
    public func setRouterMandatory() throws { try setOption(ZMQ_ROUTER_MANDATORY, Int32(1)) }

    /// libzmq drops the connection of a peer that sends a frame larger than this.
    public func setMaxMessageSize(_ bytes: Int64) throws { try setOption(ZMQ_MAXMSGSIZE, bytes) }

    /// The most messages one connection's inbound queue holds (`ZMQ_RCVHWM`; on a ROUTER, per
    /// connection). Once it is full libzmq stops reading that connection, so its sender waits.
    /// Set before bind or connect: connections take the value they are made with.
    public func setReceiveHighWaterMark(_ messages: Int32) throws { try setOption(ZMQ_RCVHWM, messages) }

    /// The most messages this socket queues to send per connection (`ZMQ_SNDHWM`).
    public func setSendHighWaterMark(_ messages: Int32) throws { try setOption(ZMQ_SNDHWM, messages) }

    /// The identity a ROUTER peer sees for this socket (set before connecting).
    public func setRoutingID(_ id: String) throws { try setOption(ZMQ_ROUTING_ID, bytes: Array(id.utf8)) }

    /// Binds and returns the endpoint actually bound (`tcp://127.0.0.1:0` resolves to a port).
    @discardableResult
    public func bind(_ endpoint: String) throws -> String {
        let s = try socket()
        try zmqCall("zmq_bind(\(endpoint))") { zmq_bind(s, endpoint) }
        if endpoint.hasPrefix("inproc://") { usesInproc = true }
        var buffer = [CChar](repeating: 0, count: 512)
        var size = buffer.count
        try zmqCall("zmq_getsockopt(ZMQ_LAST_ENDPOINT)") { zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, &buffer, &size) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func connect(_ endpoint: String) throws {
        let s = try socket()
        try zmqCall("zmq_connect(\(endpoint))") { zmq_connect(s, endpoint) }
        if endpoint.hasPrefix("inproc://") { usesInproc = true }
    }

    public func disconnect(_ endpoint: String) throws {
        let s = try socket()
        try zmqCall("zmq_disconnect(\(endpoint))") { zmq_disconnect(s, endpoint) }
    }

    /// Float payloads at least this large go out zero-copy (over tcp and ipc).
    public static let zeroCopyThreshold = 64 * 1024
    /// Set once the socket binds or connects to an `inproc://` endpoint: there a zero-copy
    /// message would pin the sender's buffer until the receiver closes it, so FedSim copies.
    private var usesInproc = false

    /// Sends a multipart message. Float payloads of at least `zeroCopyThreshold` bytes go out
    /// zero-copy (libzmq reads the array's own storage, which stays alive until libzmq's I/O
    /// thread is done with it); everything else is copied once by `zmq_send`. No payload is
    /// ever encoded element by element. Returns false when the message could not be queued now
    /// (EAGAIN).
    @discardableResult
    public func send(_ parts: [OutgoingFrame], dontWait: Bool = false) throws -> Bool {
        let s = try socket()
        for (i, part) in parts.enumerated() {
            var flags: Int32 = i < parts.count - 1 ? ZMQ_SNDMORE : 0
            if dontWait { flags |= ZMQ_DONTWAIT }
            let sent: Int32?
            if case .floats(let values) = part, 4 * values.count >= ZMQSocket.zeroCopyThreshold, !usesInproc {
                sent = try sendZeroCopy(values, socket: s, flags: flags)
            } else {
                sent = try part.withBytes { pointer, count in
                    try zmqCall("zmq_send") { zmq_send(s, pointer, count, flags) }
                }
            }
            if sent == nil {
                precondition(i == 0, "libzmq queues a multipart message atomically after its first part")
                return false
            }
        }
        return true
    }

    /// Hands libzmq the array's storage. The array is kept alive by a retained box whose release
    /// is libzmq's free callback (run on its I/O thread; the box travels through `hint`, since a
    /// C callback cannot capture). The array is never mutated, so its storage never moves.
    private func sendZeroCopy(_ values: [Float], socket s: UnsafeMutableRawPointer, flags: Int32) throws -> Int32? {
        let box = Unmanaged.passRetained(PinnedFloats(values))
        let base = box.takeUnretainedValue().values.withUnsafeBytes {
            UnsafeMutableRawPointer(mutating: $0.baseAddress!)
        }
        var message = zmq_msg_t()
        let release: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { _, hint in
            if let hint { Unmanaged<PinnedFloats>.fromOpaque(hint).release() }
        }
        guard zmq_msg_init_data(&message, base, 4 * values.count, release, box.toOpaque()) == 0 else {
            box.release()
            throw ZMQError.last("zmq_msg_init_data")
        }
        do {
            let sent = try zmqCall("zmq_msg_send") { zmq_msg_send(&message, s, flags) }
            if sent == nil { zmq_msg_close(&message) }  // not queued: we still own it
            return sent
        } catch {
            zmq_msg_close(&message)
            throw error
        }
    }

    /// Waits up to `timeout` seconds for a message (nil: nothing arrived). Returns all its parts.
    public func receive(timeout: Double, wakeup: Wakeup?) throws -> [Frame]? {
        let s = try socket()
        // The socket, and the wakeup's pipe beside it (libzmq polls a plain descriptor too).
        var items = [zmq_pollitem_t(socket: s, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)]
        if let wakeup {
            items.append(zmq_pollitem_t(socket: nil, fd: wakeup.readDescriptor, events: Int16(ZMQ_POLLIN), revents: 0))
        }
        let milliseconds = timeout < 0 ? -1 : Int(max(0, timeout * 1000).rounded(.up))
        let count = Int32(items.count)
        guard let ready = try zmqCall("zmq_poll", { zmq_poll(&items, count, milliseconds) }), ready > 0,
            items[0].revents & Int16(ZMQ_POLLIN) != 0
        else { return nil }
        var frames: [Frame] = []
        while true {
            var message = zmq_msg_t()
            zmq_msg_init(&message)
            defer { zmq_msg_close(&message) }
            guard let size = try zmqCall("zmq_msg_recv", { zmq_msg_recv(&message, s, ZMQ_DONTWAIT) }) else {
                return frames.isEmpty ? nil : frames
            }
            let data = zmq_msg_data(&message)
            // A ROUTER's routing-id frame is its own; the peer's frames carry the ZAP User-Id.
            if frames.isEmpty { lastSenderKey = nil }
            if lastSenderKey == nil, let id = zmq_msg_gets(&message, "User-Id"), id.pointee != 0 {
                lastSenderKey = String(cString: id)
            }
            frames.append(Frame(UnsafeRawBufferPointer(start: data, count: Int(size))))
            if zmq_msg_more(&message) == 0 { return frames }
        }
    }
}

/// libzmq's version, e.g. "4.3.4".
public var zmqVersion: String {
    var major: Int32 = 0
    var minor: Int32 = 0
    var patch: Int32 = 0
    zmq_version(&major, &minor, &patch)
    return "\(major).\(minor).\(patch)"
}

/// An immutable array kept alive for libzmq during a zero-copy send. Sendable because it never
/// changes after creation (libzmq's I/O thread releases it).
final class PinnedFloats: Sendable {
    let values: [Float]
    init(_ values: [Float]) { self.values = values }
}

/// A ZeroMQ socket is FedSim's real `MessageSocket`: ROUTER at the coordinator, DEALER at clients.
extension ZMQSocket: MessageSocket {
    public var refusedByPeer: Bool {
        if !wasRefused, let monitor, let event = try? monitor.receive(timeout: 0), !event.isEmpty {
            wasRefused = true  // the only event watched: a failed authentication
        }
        return wasRefused
    }
}
