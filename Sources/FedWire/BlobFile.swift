import FedTransport

/// A small container for files that hold a little metadata and large numeric arrays (the
/// run checkpoint): the metadata as JSON, the arrays as raw little-endian bytes, each named.
/// Writing hands the arrays to the OS straight from memory; reading checks every length.
///
/// Layout: `FSBF`, u16 version 1, u32 metadata length, metadata, u32 blob count, then per blob
/// u16 name length, name (UTF-8), u64 byte length, bytes.
public enum BlobFile {
    public static let version: UInt16 = 1

    public struct Damaged: Error, Equatable, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public static func parts(meta: [UInt8], blobs: [(name: String, data: OutgoingFrame)]) -> [OutgoingFrame] {
        var w = ByteWriter()
        w.bytes(Array("FSBF".utf8))
        w.u16(version)
        w.u32(UInt32(meta.count))
        w.bytes(meta)
        w.u32(UInt32(blobs.count))
        var parts: [OutgoingFrame] = []
        for blob in blobs {
            let name = Array(blob.name.utf8)
            w.u16(UInt16(name.count))
            w.bytes(name)
            w.u64(UInt64(blob.data.count))
            parts.append(.bytes(w.data))
            parts.append(blob.data)
            w = ByteWriter()
        }
        parts.append(.bytes(w.data))
        return parts
    }

    public static func decode(_ bytes: [UInt8]) throws(Damaged) -> (meta: [UInt8], blobs: [String: [UInt8]]) {
        var r = ByteReader(bytes)
        guard bytes.count >= 14, r.bytes(4) == Array("FSBF".utf8) else {
            throw Damaged(description: "not a FedSim file")
        }
        guard r.u16() == version else { throw Damaged(description: "unsupported version") }
        let metaLength = Int(r.u32())
        guard r.remaining >= metaLength + 4 else { throw Damaged(description: "truncated metadata") }
        let meta = r.bytes(metaLength)
        let count = Int(r.u32())
        var blobs: [String: [UInt8]] = [:]
        for _ in 0..<count {
            guard r.remaining >= 2 else { throw Damaged(description: "truncated") }
            let nameLength = Int(r.u16())
            guard r.remaining >= nameLength + 8 else { throw Damaged(description: "truncated") }
            let name = String(decoding: r.bytes(nameLength), as: UTF8.self)
            let length = r.u64()
            guard length <= UInt64(r.remaining) else { throw Damaged(description: "blob \(name) is truncated") }
            blobs[name] = r.bytes(Int(length))
        }
        guard r.remaining == 0 else { throw Damaged(description: "trailing bytes") }
        return (meta, blobs)
    }
}
