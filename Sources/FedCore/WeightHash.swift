/// A stable 64-bit hash (FNV-1a) of a Float buffer's little-endian bytes, printed as 16 hex
/// digits. Two runs agree to the bit exactly when their hashes agree (collisions aside).
public enum WeightHash {
    public static func hex(_ values: UnsafeBufferPointer<Float>) -> String {
        var h = FNV1a64()
        h.add(values)
        return h.hex
    }

    public static func hex(_ values: [Float]) -> String {
        values.withUnsafeBufferPointer { hex($0) }
    }
}
