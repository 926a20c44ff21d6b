/// A streaming 64-bit FNV-1a hash over bytes. FedSim's weight hashes and run fingerprints are
/// this hash, so they are stable across processes, builds and machines (Swift's `Hasher` is
/// seeded per process).
public struct FNV1a64: Sendable, Equatable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var h = value
        for byte in bytes {
            h ^= UInt64(byte)
            h = h &* 0x100_0000_01b3
        }
        value = h
    }

    public mutating func add(_ text: String) {
        var copy = text
        copy.withUTF8 { add(UnsafeRawBufferPointer($0)) }
    }

    /// The hash of `text`'s UTF-8 bytes.
    public static func hash(_ text: String) -> UInt64 {
        var h = FNV1a64()
        h.add(text)
        return h.value
    }

    /// Float32 values as their little-endian bytes (the wire and file layout).
    public mutating func add(_ values: [Float]) {
        values.withUnsafeBufferPointer { add($0) }
    }

    public mutating func add(_ values: UnsafeBufferPointer<Float>) {
        var h = value
        for v in values {
            var bits = v.bitPattern.littleEndian
            for _ in 0..<4 {
                h ^= UInt64(bits & 0xFF)
                h = h &* 0x100_0000_01b3
                bits >>= 8
            }
        }
        value = h
    }

    public mutating func add<T: FixedWidthInteger>(integer x: T) {
        withUnsafeBytes(of: x.littleEndian) { add($0) }
    }

    /// The value as 16 hex digits.
    public var hex: String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
