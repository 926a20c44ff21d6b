import FedClient
import FedOptim
import Foundation

/// One file per virtual client (`client-<id>.state`), written atomically after every round
/// the client takes part in. Binary (the slots as raw Float32, a few hundred µs to write) and
/// stamped with the topology fingerprint and the run id, so a snapshot from another run —
/// even of the same topology — is never loaded.
///
/// Layout, little-endian: `FSNP`, u16 version 1, u64 fingerprint, u64 run id, u32 client, i64 last round
/// (−1: none), then two optional states (current; before the last round), each: u8 present,
/// u64 step, u16 transforms, per transform u16 slots, u16 scalars, scalars as f64, u32 floats,
/// floats as f32.
public struct SnapshotStore: Sendable {
    public let directory: URL
    public let fingerprint: UInt64

    public init(directory: URL, fingerprint: UInt64) throws {
        self.directory = directory
        self.fingerprint = fingerprint
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func url(_ client: Int) -> URL { directory.appendingPathComponent("client-\(client).state") }

    public func save(_ snapshot: ClientSnapshot, runID: UInt64) throws {
        var out = [UInt8]()
        func append<T: FixedWidthInteger>(_ x: T) { withUnsafeBytes(of: x.littleEndian) { out += $0 } }
        out += Array("FSNP".utf8)
        append(UInt16(1)); append(fingerprint); append(runID); append(UInt32(snapshot.client)); append(Int64(snapshot.lastRound ?? -1))
        for state in [snapshot.state, snapshot.stateBeforeLastRound] {
            guard let state else { out.append(0); continue }
            out.append(1)
            append(UInt64(state.step)); append(UInt16(state.transforms.count))
            for t in state.transforms {
                append(UInt16(t.names.count)); append(UInt16(t.scalars.count))
                for x in t.scalars { append(x.bitPattern) }
                append(UInt32(t.storage.count))
                t.storage.withUnsafeBytes { out += $0 }
            }
        }
        try RunDirectory.writeAtomically(Data(out), to: url(snapshot.client))
    }

    /// Loads client `client`'s snapshot for run `runID` (nil when there is none, or it belongs to
    /// another run), rebuilding slot names from `template` (a fresh state of the client's
    /// optimizer); a damaged file or a shape that differs is an error.
    public func load(client: Int, template: OptimizerState, runID: UInt64) throws -> ClientSnapshot? {
        let path = url(client).path
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let bytes = [UInt8](data)
        var offset = 0
        struct Bad: Error {}
        func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
            let n = MemoryLayout<T>.size
            guard offset + n <= bytes.count else { throw Bad() }
            var x: T = 0
            for i in 0..<n { x |= T(bytes[offset + i]) << (8 * i) }
            offset += n
            return x
        }
        func readState() throws -> OptimizerState? {
            guard try read(UInt8.self) == 1 else { return nil }
            var state = template
            state.step = Int(try read(UInt64.self))
            guard Int(try read(UInt16.self)) == template.transforms.count else { throw Bad() }
            for i in state.transforms.indices {
                guard Int(try read(UInt16.self)) == template.transforms[i].names.count else { throw Bad() }
                let scalars = Int(try read(UInt16.self))
                guard scalars == template.transforms[i].scalars.count else { throw Bad() }
                state.transforms[i].scalars = try (0..<scalars).map { _ in Double(bitPattern: try read(UInt64.self)) }
                let count = Int(try read(UInt32.self))
                guard count == template.transforms[i].storage.count, offset + 4 * count <= bytes.count else { throw Bad() }
                state.transforms[i].storage = bytes.withUnsafeBytes { raw in
                    (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4 * $0, as: UInt32.self))) }
                }
                offset += 4 * count
            }
            return state
        }
        do {
            guard bytes.count >= 4, Array(bytes[0..<4]) == Array("FSNP".utf8) else { throw Bad() }
            offset = 4
            guard try read(UInt16.self) == 1 else { throw Bad() }
            let stamp = try read(UInt64.self)
            guard stamp == fingerprint else {
                throw RunInputError("\(path) belongs to another topology (fingerprint \(String(stamp, radix: 16))); use another --state-dir")
            }
            guard try read(UInt64.self) == runID else { return nil }  // an earlier run of this topology: start fresh
            guard Int(try read(UInt32.self)) == client else { throw Bad() }
            let last = try read(Int64.self)
            let current = try readState(), before = try readState()
            guard offset == bytes.count else { throw Bad() }
            return ClientSnapshot(client: client, state: current, lastRound: last < 0 ? nil : Int(last), stateBeforeLastRound: before)
        } catch is Bad {
            throw RunInputError("\(path) is not a valid FedSim client snapshot for this optimizer (delete it to start that client afresh)")
        }
    }
}
