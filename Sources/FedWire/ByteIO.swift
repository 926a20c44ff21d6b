/// Little-endian writer (also for FedSimulation's client-state file).
public struct ByteWriter {
    public var data: [UInt8] = []
    public init() {}
    public mutating func bytes(_ b: [UInt8]) { data += b }
    mutating func zeros(_ n: Int) { data += [UInt8](repeating: 0, count: n) }
    mutating func u8(_ x: UInt8) { data.append(x) }
    mutating func u16(_ x: UInt16) { withUnsafeBytes(of: x.littleEndian) { data += $0 } }
    public mutating func u32(_ x: UInt32) { withUnsafeBytes(of: x.littleEndian) { data += $0 } }
    public mutating func u64(_ x: UInt64) { withUnsafeBytes(of: x.littleEndian) { data += $0 } }
    mutating func f64(_ x: Double) { u64(x.bitPattern) }
    mutating func f32(_ x: Float) { u32(x.bitPattern) }
    /// Float32 values as little-endian bytes, copied once.
    mutating func floats(_ values: [Float]) { values.withUnsafeBytes { data.append(contentsOf: $0) } }
}

/// Little-endian reader; callers check lengths first, and reading past the end yields zeros
/// rather than trapping.
struct ByteReader {
    let data: [UInt8]
    var offset = 0
    init(_ data: [UInt8]) { self.data = data }
    var remaining: Int { data.count - offset }
    mutating func bytes(_ n: Int) -> [UInt8] {
        let end = min(offset + n, data.count)
        defer { offset = offset + n }
        return offset < end ? Array(data[offset..<end]) : []
    }
    mutating func u8() -> UInt8 { uint(1) }
    mutating func u16() -> UInt16 { uint(2) }
    mutating func u32() -> UInt32 { uint(4) }
    mutating func u64() -> UInt64 { uint(8) }
    mutating func f64() -> Double { Double(bitPattern: u64()) }
    mutating func f32() -> Float { Float(bitPattern: u32()) }
    private mutating func uint<T: FixedWidthInteger>(_ n: Int) -> T {
        var x: T = 0
        for i in 0..<n where offset + i < data.count { x |= T(data[offset + i]) << (8 * i) }
        offset += n
        return x
    }
}
