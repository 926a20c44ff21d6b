import FedOptim
import FedProtocol
import FedTransport

/// The bytes of a client snapshot (`client-<id>.state`): a virtual client's persistent
/// optimizer state, stamped with the run fingerprint and the run id so that a snapshot of
/// another topology — or of an earlier run of the same one — is never restored.
///
/// Layout, little-endian: `FSNP`, u16 version 2, u64 fingerprint, u64 run id, u32 client,
/// i64 last round (−1: none), then two optional states (current; before the last round), each
/// u8 present and, if present, u32 header length, the `OptimizerStateCoding` header, u32 value
/// count and the state data as Float32.
public enum SnapshotCoding {
    public static let version: UInt16 = 2

    public enum Failure: Error, Equatable {
        /// Stamped with another run fingerprint.
        case otherTopology(fingerprint: UInt64)
        /// Not a snapshot of this version, client and optimizer.
        case damaged
    }

    public static func encode(_ snapshot: ClientSnapshot, fingerprint: UInt64, runID: UInt64) -> [UInt8] {
        parts(snapshot, fingerprint: fingerprint, runID: runID).flatMap(\.received)
    }

    /// The same bytes as `encode`, in parts: small byte runs and the states' Float32 slots as they
    /// lie in memory, so a writer can hand them to the OS without building one big buffer.
    public static func parts(_ snapshot: ClientSnapshot, fingerprint: UInt64, runID: UInt64) -> [OutgoingFrame] {
        var parts: [OutgoingFrame] = []
        var w = ByteWriter()
        w.bytes(Array("FSNP".utf8))
        w.u16(version)
        w.u64(fingerprint)
        w.u64(runID)
        w.u32(UInt32(snapshot.client))
        w.u64(UInt64(bitPattern: Int64(snapshot.lastRound ?? -1)))
        for state in [snapshot.state, snapshot.stateBeforeLastRound] {
            guard let state else {
                w.u8(0)
                continue
            }
            w.u8(1)
            let header = OptimizerStateCoding.header(state)
            w.u32(UInt32(header.count))
            w.bytes(header)
            w.u32(UInt32(state.transforms.reduce(0) { $0 + $1.storage.count }))
            parts.append(.bytes(w.data))
            w = ByteWriter()
            for t in state.transforms where !t.storage.isEmpty { parts.append(.floats(t.storage)) }
        }
        parts.append(.bytes(w.data))
        return parts
    }

    /// The snapshot in `bytes` for `client` of run `runID`, decoded against `template`; nil
    /// when it was written by an earlier run of the same topology (the client starts fresh).
    public static func decode(
        _ bytes: [UInt8], client: Int, template: OptimizerState, fingerprint: UInt64,
        runID: UInt64
    ) throws(Failure) -> ClientSnapshot? {
        var r = ByteReader(bytes)
        guard bytes.count >= 38, r.bytes(4) == Array("FSNP".utf8), r.u16() == version else { throw .damaged }
        let stamp = r.u64()
        guard stamp == fingerprint else { throw .otherTopology(fingerprint: stamp) }
        guard r.u64() == runID else { return nil }
        guard Int(r.u32()) == client else { throw .damaged }
        let last = Int64(bitPattern: r.u64())
        func state() throws(Failure) -> OptimizerState? {
            guard r.remaining >= 1 else { throw .damaged }
            switch r.u8() {
            case 0: return nil
            case 1: break
            default: throw .damaged
            }
            guard r.remaining >= 4 else { throw .damaged }
            let headerLength = Int(r.u32())
            guard r.remaining >= headerLength + 4 else { throw .damaged }
            let header = r.bytes(headerLength)
            let count = Int(r.u32())
            guard r.remaining >= 4 * count else { throw .damaged }
            let data = r.bytes(4 * count)
            do {
                return try OptimizerStateCoding.decode(
                    header: header, data: data, template: template, requireFinite: false)
            } catch {
                throw .damaged
            }
        }
        let current = try state()
        let before = try state()
        guard r.remaining == 0 else { throw .damaged }
        return ClientSnapshot(
            client: client, state: current, lastRound: last < 0 ? nil : Int(last), stateBeforeLastRound: before)
    }
}
