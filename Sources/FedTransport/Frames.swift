/// One received frame of a multipart message, copied out of the transport's buffer (over
/// tcp/ipc a payload is only 8-byte aligned, and copying releases the buffer at once).
public typealias Frame = [UInt8]

/// A part of an outgoing message: bytes, or Float32 values sent as their raw little-endian
/// bytes straight from the array's storage (no per-element encoding).
public enum OutgoingFrame: Sendable {
    case bytes([UInt8])
    case floats([Float])

    public func withBytes<R>(_ body: (UnsafeRawPointer?, Int) throws -> R) rethrows -> R {
        switch self {
        case .bytes(let b): return try b.withUnsafeBytes { try body($0.baseAddress, $0.count) }
        case .floats(let f): return try f.withUnsafeBytes { try body($0.baseAddress, $0.count) }
        }
    }

    public var count: Int {
        switch self {
        case .bytes(let b): b.count
        case .floats(let f): 4 * f.count
        }
    }

    /// The bytes as a receiver sees them (tests, in-memory transports).
    public var received: Frame { withBytes { Frame(UnsafeRawBufferPointer(start: $0, count: $1)) } }
}
