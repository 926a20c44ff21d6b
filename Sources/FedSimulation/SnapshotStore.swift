import FedOptim
import FedProtocol
import FedWire
import Foundation

/// One file per virtual client (`client-<id>.state`), written atomically after every round
/// the client takes part in: its persistent optimizer state in `SnapshotCoding`'s layout (raw
/// Float32 slots, a few hundred µs to write), stamped with the run fingerprint and the run id,
/// so a snapshot from another run — even of the same topology — is never loaded.
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
        let parts = SnapshotCoding.parts(snapshot, fingerprint: fingerprint, runID: runID)
        try RunDirectory.writeAtomically(parts: parts, to: url(snapshot.client))
    }

    /// Loads client `client`'s snapshot for run `runID` (nil when there is none, or it belongs to
    /// an earlier run), decoding it against `template` (a fresh state of the client's optimizer);
    /// a damaged file, another topology's file or a shape that differs is an error.
    public func load(client: Int, template: OptimizerState, runID: UInt64) throws -> ClientSnapshot? {
        let path = url(client).path
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            return try SnapshotCoding.decode(
                [UInt8](data), client: client, template: template, fingerprint: fingerprint, runID: runID)
        } catch .otherTopology(let stamp) {
            throw RunInputError(
                "\(path) belongs to another topology (fingerprint \(String(stamp, radix: 16))); use another --state-dir"
            )
        } catch {
            throw RunInputError(
                "\(path) is not a valid FedSim client snapshot for this optimizer (delete it to start that client "
                    + "afresh)"
            )
        }
    }
}
