import CZeroMQ
import FedTransport
import Foundation
import Synchronization

/// A CURVE key pair (Curve25519), both halves in Z85 text (40 characters), as `zmq_curve_keypair`
/// makes them. The public half identifies a process; the secret half never leaves its file.
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    public init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A fresh key pair from libzmq (libsodium's random source).
    public static func generate() throws -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        try zmqCall("zmq_curve_keypair") { zmq_curve_keypair(&publicKey, &secretKey) }
        return CurveKeyPair(publicKey: string(publicKey), secretKey: string(secretKey))
    }

    /// Whether `key` is a Z85-encoded 32-byte key (40 characters that decode).
    public static func isKey(_ key: String) -> Bool {
        guard key.utf8.count == 40 else { return false }
        var decoded = [UInt8](repeating: 0, count: 32)
        return zmq_z85_decode(&decoded, key) != nil
    }

    /// Whether this libzmq was built with CURVE (Debian's is, with libsodium).
    public static var isAvailable: Bool { zmq_has("curve") != 0 }

    private static func string(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension ZMQSocket {
    /// The ZAP domain FedSim's authenticator serves.
    static let zapDomain = "fedsim"

    /// Makes this (ROUTER) socket a CURVE server with `secretKey`: every connection is encrypted
    /// and its client key is checked by the `CurveAuthenticator` of this context. Set before bind.
    public func makeCurveServer(secretKey: String) throws {
        try setOption(ZMQ_CURVE_SERVER, Int32(1))
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(secretKey.utf8) + [0])
        try setOption(ZMQ_ZAP_DOMAIN, bytes: Array(Self.zapDomain.utf8))
    }

    /// Makes this (DEALER) socket a CURVE client of the server with public key `serverKey`,
    /// authenticating with `keys`. Set before connect.
    public func makeCurveClient(serverKey: String, keys: CurveKeyPair) throws {
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: Array(serverKey.utf8) + [0])
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: Array(keys.publicKey.utf8) + [0])
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(keys.secretKey.utf8) + [0])
    }
}

/// The ZAP handler (ZeroMQ RFC 27) of one context: a thread that answers libzmq's
/// authentication requests for CURVE connections, accepting exactly the listed client public
/// keys and naming each connection by its key (its `User-Id`, which the coordinator reads off
/// every message to bind a key to the client ids it may hold). A connection with any other key
/// never completes its handshake: it cannot send FedSim a single frame.
public final class CurveAuthenticator: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)

    /// Binds `inproc://zeromq.zap.01` in `context`; start it before the server socket binds.
    /// - Parameter refused: called (on the handler's thread) with each refused key and peer address.
    public init(
        context: ZMQContext, allowed: Set<String>,
        refused: @escaping @Sendable (_ key: String, _ address: String) -> Void
    ) throws {
        let socket = try ZMQSocket(context: context, kind: .reply)
        try socket.bind("inproc://zeromq.zap.01")
        let box = SocketBox(socket)
        let thread = Thread { [self] in
            serve(box.socket, allowed: allowed, refused: refused)
            box.socket.close()
            done.signal()
        }
        thread.name = "fedsim-zap"
        thread.start()
    }

    /// Stops the handler and waits for its thread (it checks every 50 ms).
    public func stop() {
        guard !stopped.exchange(true, ordering: .sequentiallyConsistent) else { return }
        done.wait()
    }

    private func serve(
        _ socket: ZMQSocket, allowed: Set<String>, refused: @Sendable (String, String) -> Void
    ) {
        while !stopped.load(ordering: .sequentiallyConsistent) {
            guard let frames = try? socket.receive(timeout: 0.05) else { continue }
            // version, request id, domain, address, routing id, mechanism, credentials...
            guard frames.count >= 6 else { continue }
            let version = frames[0]
            let request = frames[1]
            let address = String(decoding: frames[3], as: UTF8.self)
            let mechanism = String(decoding: frames[5], as: UTF8.self)
            var status = "400"
            var text = "unknown key"
            var user = ""
            if mechanism == "CURVE", frames.count >= 7, frames[6].count == 32 {
                let key = Self.z85(frames[6])
                if allowed.contains(key) {
                    (status, text, user) = ("200", "OK", key)
                } else {
                    refused(key, address)
                }
            } else {
                text = "CURVE required"
                refused("(\(mechanism))", address)
            }
            let reply: [OutgoingFrame] = [
                .bytes(version), .bytes(request), .bytes(Array(status.utf8)), .bytes(Array(text.utf8)),
                .bytes(Array(user.utf8)), .bytes([]),
            ]
            _ = try? socket.send(reply, dontWait: true)
        }
    }

    static func z85(_ key: [UInt8]) -> String {
        var text = [CChar](repeating: 0, count: 41)
        _ = key.withUnsafeBufferPointer { zmq_z85_encode(&text, $0.baseAddress, 32) }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Moves the ZAP socket into its thread. Safe: after `init` hands it over, only that thread
/// touches the socket (libzmq's one-thread-per-socket rule).
private final class SocketBox: @unchecked Sendable {
    let socket: ZMQSocket
    init(_ socket: ZMQSocket) { self.socket = socket }
}
