import Foundation

/// Float32 arrays as raw little-endian bytes: the one layout FedSim uses for weights and
/// deltas on the wire, in `final_weights.f32`, `model.init` files, checkpoints and snapshots.
/// (Every host FedSim builds for is little-endian; the wire sends arrays' own storage.)
public enum Float32LE {
    public static func bytes(_ values: [Float]) -> [UInt8] {
        values.withUnsafeBytes { Array($0) }
    }

    public static func data(_ values: [Float]) -> Data {
        values.withUnsafeBytes { Data($0) }
    }

    /// The values in `raw`, whose length must be a multiple of 4 (the caller checks).
    public static func values(_ raw: UnsafeRawBufferPointer) -> [Float] {
        let count = raw.count / 4
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(
                from: UnsafeRawBufferPointer(rebasing: raw[0..<(4 * count)]))
            initialized = count
        }
    }

    public static func values(_ data: Data) -> [Float] { data.withUnsafeBytes { values($0) } }
    public static func values(_ bytes: [UInt8]) -> [Float] { bytes.withUnsafeBytes { values($0) } }

    /// Exactly `count` values from a frame, optionally all finite; otherwise a `ProtocolError`
    /// naming `what`.
    static func decode(_ frame: [UInt8], what: String, count: Int, requireFinite: Bool) throws -> [Float] {
        guard frame.count == 4 * count else {
            throw ProtocolError.payloadLength(what: what, got: frame.count, expected: 4 * count)
        }
        let result = values(frame)
        if requireFinite, let bad = result.firstIndex(where: { !$0.isFinite }) {
            throw ProtocolError.nonFinite(what: what, index: bad)
        }
        return result
    }
}
