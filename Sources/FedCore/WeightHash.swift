/// A stable 64-bit hash (FNV-1a) of a Float buffer's little-endian bytes, printed as 16 hex
/// digits. Two runs agree to the bit exactly when their hashes agree (collisions aside).
public enum WeightHash {
    public static func hex(_ values: UnsafeBufferPointer<Float>) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for v in values {
            var bits = v.bitPattern.littleEndian
            for _ in 0..<4 {
                h ^= UInt64(bits & 0xFF)
                h = h &* 0x100_0000_01b3
                bits >>= 8
            }
        }
        let s = String(h, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    public static func hex(_ values: [Float]) -> String {
        values.withUnsafeBufferPointer { hex($0) }
    }
}
