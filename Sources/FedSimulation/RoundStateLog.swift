import FedClient
import FedCoordinator
import FedOptim
import FedProtocol
import FedTransport
import FedWire
import Foundation

/// The persistent optimizer states of an in-process run, one file per round
/// (`client-state/round-<r>.states`, a `BlobFile`) holding the states of that round's
/// *persist* participants, written before the round's checkpoint. Resuming after round r reads
/// the files up to r (a client's latest state wins) and deletes later ones, whose rounds run
/// again. One file per round instead of one per client keeps a 1,000-client run from paying a
/// file creation per participant per round; the files are not compacted (the client-state
/// store of the scale issue replaces them).
public struct RoundStateLog: Sendable {
    public let directory: URL
    public let fingerprint: UInt64

    struct Meta: Codable {
        var fingerprint: String
        var round: Int
        var clients: [Int]
    }

    public init(directory: URL, fingerprint: UInt64) throws {
        self.directory = directory
        self.fingerprint = fingerprint
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func url(_ round: Int) -> URL { directory.appendingPathComponent("round-\(round).states") }

    /// Writes round `round`'s states of `clients` (atomically).
    public func save(round: Int, clients: [VirtualClient]) throws {
        var blobs: [(name: String, data: OutgoingFrame)] = []
        var ids: [Int] = []
        for client in clients {
            guard let state = client.persistentState else { continue }
            ids.append(client.id)
            blobs.append(("\(client.id).header", .bytes(OptimizerStateCoding.header(state))))
            for (i, t) in state.transforms.enumerated() where !t.storage.isEmpty {
                blobs.append(("\(client.id).\(i)", .floats(t.storage)))
            }
        }
        let meta = Meta(fingerprint: String(format: "%016llx", fingerprint), round: round, clients: ids)
        let parts = BlobFile.parts(meta: Array(try JSONEncoder().encode(meta)), blobs: blobs)
        try RunDirectory.writeAtomically(parts: parts, to: url(round))
    }

    /// Restores every client's latest state from the files of rounds ≤ `round` and deletes the
    /// files of later rounds. Returns how many clients were restored.
    public func restore(_ clients: [VirtualClient], through round: Int) throws -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let rounds = names.compactMap { name -> Int? in
            guard name.hasPrefix("round-"), name.hasSuffix(".states") else { return nil }
            return Int(name.dropFirst("round-".count).dropLast(".states".count))
        }.sorted()
        var restored = Set<Int>()
        for r in rounds {
            if r > round {
                try? FileManager.default.removeItem(at: url(r))
                continue
            }
            let path = url(r).path
            func damaged(_ why: String) -> RunInputError {
                RunInputError(
                    "\(path) is damaged (\(why)); delete the run's client-state/ to resume without client states")
            }
            guard let data = FileManager.default.contents(atPath: path) else { throw damaged("unreadable") }
            let (metaBytes, blobs): ([UInt8], [String: [UInt8]])
            do { (metaBytes, blobs) = try BlobFile.decode([UInt8](data)) } catch { throw damaged("\(error)") }
            guard let meta = try? JSONDecoder().decode(Meta.self, from: Data(metaBytes)), meta.round == r else {
                throw damaged("bad metadata")
            }
            guard meta.fingerprint == String(format: "%016llx", fingerprint) else {
                throw RunInputError("\(path) belongs to another run (fingerprint \(meta.fingerprint))")
            }
            for id in meta.clients {
                guard id >= 0, id < clients.count, clients[id].policy == .persist, let header = blobs["\(id).header"]
                else {
                    throw damaged("client \(id)")
                }
                let client = clients[id]
                let template = client.optimizer.initialState(
                    params: [Float](repeating: 0, count: client.model.parameterCount))
                var data: [UInt8] = []
                for (i, t) in template.transforms.enumerated() where !t.storage.isEmpty {
                    guard let slots = blobs["\(id).\(i)"] else { throw damaged("client \(id) transform \(i)") }
                    data += slots
                }
                let state: OptimizerState
                do {
                    state = try OptimizerStateCoding.decode(
                        header: header, data: data, template: template, requireFinite: false)
                } catch {
                    throw damaged("client \(id): \(error)")
                }
                client.restore(ClientSnapshot(client: id, state: state, lastRound: r, stateBeforeLastRound: nil))
                restored.insert(id)
            }
        }
        return restored.count
    }
}

/// Writes each round's persist-client states (`RoundStateLog`) before the checkpoint that
/// relies on them.
public final class RoundStateRecorder: RunObserver {
    private let log: RoundStateLog
    private let pool: InProcessPool

    public init(log: RoundStateLog, pool: InProcessPool) {
        self.log = log
        self.pool = pool
    }

    public func roundFinished(_ outcome: RoundOutcome, engine: RoundEngine) throws {
        let trained = pool.lastTrained.map { pool.clients[$0] }.filter { $0.policy == .persist }
        if !trained.isEmpty { try log.save(round: outcome.record.round, clients: trained) }
    }
}
