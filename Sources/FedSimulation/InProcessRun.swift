import FedCoordinator
import FedTopology
import Foundation

/// The single-process federation (`fedsim run`): every virtual client in this process, called
/// directly, driven by the same `RunDriver` as a cluster.
public enum InProcessRun {
    /// Runs `prepared` to the end, writing `directory` (metrics, `checkpoint.bin` after every
    /// round and the *persist* clients' states in `client-state/`, so the run can resume).
    /// - Parameter resume: the checkpoint to continue from; `directory` must have been reopened
    ///   at its round (`ResumedRun.open`).
    public static func run(
        _ prepared: PreparedRun, directory: RunDirectory, resume: Checkpoint? = nil, events: EventLog,
        shouldStop: () -> Bool = { false }, progress: ((String) -> Void)? = nil
    ) throws -> RunResult {
        let t = prepared.topology
        let runID = resume?.runIDValue ?? UInt64.random(in: 1...UInt64.max)
        let stateDirectory = directory.url.appendingPathComponent("client-state")
        let stateFile = stateDirectory.appendingPathComponent("states.bin")
        if resume != nil, !FileManager.default.fileExists(atPath: stateFile.path),
            let old = try? FileManager.default.contentsOfDirectory(atPath: stateDirectory.path),
            old.contains(where: { $0.hasSuffix(".states") })
        {
            throw RunInputError(
                "\(stateDirectory.path) holds client states in the per-round format of an earlier FedSim "
                    + "(round-<r>.states); resume the run with the FedSim that wrote it")
        }
        if let resume, FileManager.default.fileExists(atPath: stateFile.path) {
            events.log("resuming the clients' optimizer states from \(stateFile.path) (after round \(resume.round))")
        }
        let states = try prepared.clientStateFile(in: directory.url)
        let clients = prepared.makeClients(0..<t.clients.count, stateStore: states)
        let pool = InProcessPool(clients: (0..<t.clients.count).map { clients[$0]! }, threads: t.threadCount)
        var observers: [RunObserver] = states.map { [ClientStateRecorder($0)] } ?? []
        observers += [
            CheckpointRecorder(run: directory.url, fingerprint: prepared.fingerprint, runID: runID),
            RunDirectoryRecorder(directory),
        ]
        if let progress { observers.append(ProgressPrinter(total: t.rounds, print: progress)) }
        let driver = try RunDriver(
            prepared: prepared, pool: pool, mode: .inProcess, resume: resume, events: events, observers: observers)
        return try driver.run(shouldStop: shouldStop)
    }

    /// Every round's record (round 0 = the initial model) of a run that writes nothing: for
    /// tests, sweeps and benchmarks.
    public static func records(_ prepared: PreparedRun) throws -> [RoundRecord] {
        let clients = prepared.makeClients(0..<prepared.topology.clients.count)
        let pool = InProcessPool(
            clients: (0..<prepared.topology.clients.count).map { clients[$0]! }, threads: prepared.topology.threadCount)
        let collector = RecordCollector()
        let driver = try RunDriver(
            prepared: prepared, pool: pool, mode: .inProcess, resume: nil,
            events: EventLog(file: nil, prefix: "run", echo: false), observers: [collector])
        _ = try driver.run()
        return collector.records
    }
}

/// Keeps every round's record in memory.
public final class RecordCollector: RunObserver {
    public private(set) var records: [RoundRecord] = []
    public init() {}
    public func runStarted(from record: RoundRecord, resumed: Bool, engine: RoundEngine) throws {
        records.append(record)
    }
    public func roundFinished(_ outcome: RoundOutcome, engine: RoundEngine) throws { records.append(outcome.record) }
}

/// A run directory reopened to continue: its topology (as it ran), prepared again; its
/// checkpoint; and its files cut back to the checkpoint's round.
public struct ResumedRun {
    public let prepared: PreparedRun
    public let checkpoint: Checkpoint
    public let directory: RunDirectory

    /// Opens run directory `path`. Its data must still give the same fingerprint.
    /// - Parameters:
    ///   - threads: run on this many threads instead of what the run had (0: one per core).
    ///   - adjust: changes to how the run is carried out (its `cluster` section), never its numbers.
    public static func open(
        _ path: String, threads: Int? = nil, adjust: (inout Topology) -> Void = { _ in }
    ) throws -> ResumedRun {
        let url = URL(fileURLWithPath: path)
        if let summary = RunSummary.load(from: url), summary.completed {
            throw RunInputError(
                "\(path) is a finished run (\(summary.rounds) rounds, summary.json written): nothing to resume")
        }
        let checkpoint = try Checkpoint.load(from: url)
        var topology = try Topology.load(file: url.appendingPathComponent("topology.yaml").path)
        if let threads { topology.threads = threads }
        adjust(&topology)
        let prepared = try PreparedRun.prepare(topology)
        guard checkpoint.fingerprint == prepared.fingerprintHex else {
            throw RunInputError(
                "\(path): checkpoint.bin was written for run fingerprint \(checkpoint.fingerprint), but topology.yaml "
                    + "and its data now give \(prepared.fingerprintHex): the topology or the data changed since")
        }
        let directory = try RunDirectory(
            resuming: url, through: checkpoint.round, record: checkpoint.record, clientRecords: checkpoint.clients)
        return ResumedRun(prepared: prepared, checkpoint: checkpoint, directory: directory)
    }
}
