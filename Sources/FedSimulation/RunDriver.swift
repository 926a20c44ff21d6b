import FedCoordinator
import Foundation

/// Something that follows a run round by round: the run directory, the checkpoint, the progress
/// line. Observers are called in order, so a checkpoint is on disk before the round's metrics.
public protocol RunObserver: AnyObject {
    /// The run starts from `record`: round 0 for a new run, the checkpoint's round on `--resume`.
    func runStarted(from record: RoundRecord, resumed: Bool, engine: RoundEngine) throws
    func roundFinished(_ outcome: RoundOutcome, engine: RoundEngine) throws
    func runCompleted(_ summary: RunSummary, engine: RoundEngine) throws
}

extension RunObserver {
    public func runStarted(from record: RoundRecord, resumed: Bool, engine: RoundEngine) throws {}
    public func runCompleted(_ summary: RunSummary, engine: RoundEngine) throws {}
}

/// How a run ended: its summary and its last round's record.
public struct RunResult: Sendable {
    public var summary: RunSummary
    public var last: RoundRecord
}

/// A run was stopped by SIGINT/SIGTERM between rounds; every finished round is on disk.
public struct RunInterrupted: Error, CustomStringConvertible {
    /// The last round that finished (its metrics and checkpoint are on disk), and the run's rounds.
    public var round: Int?
    public var rounds: Int?
    public init(round: Int? = nil, rounds: Int? = nil) {
        self.round = round
        self.rounds = rounds
    }
    public var description: String {
        guard let round, let rounds else { return "interrupted" }
        return "interrupted after round \(round) of \(rounds)"
    }
}

/// The one run loop, for every mode: a `RoundEngine` over some `ClientPool` (the clients in this
/// process, or client processes over ZeroMQ), rounds from the start or from a checkpoint, each
/// round's outcome handed to the observers, rejected updates logged and counted, and one
/// `RunSummary` at the end.
public final class RunDriver {
    public let prepared: PreparedRun
    public let engine: RoundEngine
    public let mode: RunSummary.Mode
    public let events: EventLog
    private let resume: Checkpoint?
    private let observers: [RunObserver]

    /// - Parameters:
    ///   - resume: continue after this checkpoint's round (its weights and states are restored).
    public init(
        prepared: PreparedRun, pool: ClientPool, mode: RunSummary.Mode, resume: Checkpoint?, events: EventLog,
        observers: [RunObserver]
    ) throws {
        let t = prepared.topology
        self.prepared = prepared
        self.mode = mode
        self.resume = resume
        self.events = events
        self.observers = observers
        engine = RoundEngine(
            model: prepared.model, testSet: prepared.testSet, validationSet: prepared.validationSet,
            trainingShards: t.metrics.globalTrainLoss ? prepared.shards : nil,
            clientEvaluationSets: t.metrics.clientAccuracy ? prepared.clientEvaluationSets : nil,
            initialWeights: prepared.initialWeights,
            sampler: ClientSampler(
                seed: t.trainSeed, clientCount: t.clients.count, perRound: t.clients.perRound,
                weights: t.clients.sampling == .bySamples ? prepared.shards.map { Double($0.count) } : nil),
            server: t.server, groupOfClient: prepared.groupOfClient, policyOfGroup: prepared.groups.map(\.state),
            stateAggregation: t.clients.stateAggregation, chainOfGroup: prepared.groups.map(\.optimizer.chain),
            stragglers: t.clients.stragglers, clock: t.clock, training: t.clients.local,
            stateFloatsOfGroup: t.clock == nil
                ? [] : prepared.groups.indices.map { prepared.freshState(group: $0).storageCount },
            pool: pool, threads: t.threadCount,
            sampleCounts: prepared.shards.map(\.count))
        if let resume {
            guard resume.weights.count == prepared.model.parameterCount else {
                throw RunInputError(
                    "\(Checkpoint.fileName) holds \(resume.weights.count) weights; the model has "
                        + "\(prepared.model.parameterCount)"
                )
            }
            engine.restore(
                weights: resume.weights,
                sharedStates: try resume.decodedSharedStates(template: prepared.freshState),
                serverState: resume.serverState, virtualTime: resume.record.virtualTime ?? 0)
        }
    }

    /// Runs the remaining rounds. `beforeFirstRound` runs once the start is recorded (the cluster
    /// waits for its clients there); `shouldStop` is polled between rounds.
    public func run(beforeFirstRound: () throws -> Void = {}, shouldStop: () -> Bool = { false }) throws -> RunResult {
        let t = prepared.topology
        var last = resume?.record ?? engine.initialRecord()
        if let resume { events.log("resuming after round \(resume.round) (weights \(resume.record.weightsHash))") }
        for observer in observers { try observer.runStarted(from: last, resumed: resume != nil, engine: engine) }
        try beforeFirstRound()
        let first = (resume?.round ?? 0) + 1
        if first <= t.rounds {
            for round in first...t.rounds {
                if shouldStop() { throw RunInterrupted(round: round - 1, rounds: t.rounds) }
                let start = DispatchTime.now().uptimeNanoseconds
                var outcome = try engine.runRound(round)
                for (client, reason) in outcome.rejected {
                    events.log("round \(round): left out the update of client \(client): \(reason)")
                    events.count("rejected.\(reason.counterName)")
                }
                // `seconds` covers the whole round: each observer sees the time up to its turn, so
                // the line in rounds.jsonl (written after the checkpoint) includes the checkpoint.
                for observer in observers {
                    outcome.record.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    try observer.roundFinished(outcome, engine: engine)
                }
                last = outcome.record
            }
        }
        let summary = RunSummary(
            name: t.name, mode: mode, seed: t.seed, rounds: t.rounds, completed: true,
            fingerprint: prepared.fingerprintHex,
            finalWeightsHash: last.weightsHash, finalTestLoss: last.testLoss, finalTestAccuracy: last.testAccuracy,
            finalTestRMSE: last.testRMSE, finalTestR2: last.testR2, counts: events.counters)
        for observer in observers { try observer.runCompleted(summary, engine: engine) }
        return RunResult(summary: summary, last: last)
    }
}

// MARK: - Observers

/// Appends every round to the run directory's metrics files and finishes it with the final
/// weights and `summary.json`.
public final class RunDirectoryRecorder: RunObserver {
    public let directory: RunDirectory
    public init(_ directory: RunDirectory) { self.directory = directory }

    public func runStarted(from record: RoundRecord, resumed: Bool, engine: RoundEngine) throws {
        if !resumed { try directory.append(record, clients: []) }  // a resumed directory already holds it
    }

    public func roundFinished(_ outcome: RoundOutcome, engine: RoundEngine) throws {
        try directory.append(outcome.record, clients: outcome.clientRecords)
    }

    public func runCompleted(_ summary: RunSummary, engine: RoundEngine) throws {
        if let accuracies = engine.clientAccuracies {
            // The final model on each client's own data: the distribution the report charts.
            var csv = "client,accuracy\n"
            for (id, a) in accuracies.enumerated() { csv += "\(id),\(a.map { "\($0)" } ?? "")\n" }
            try RunDirectory.writeAtomically(
                Data(csv.utf8), to: directory.url.appendingPathComponent(RunDirectory.clientAccuracyFile))
        }
        try directory.finish(weights: engine.weights, summary: summary)
    }
}

/// Saves `checkpoint.bin` after round 0 and every round, so `--resume` continues the run.
public final class CheckpointRecorder: RunObserver {
    public let run: URL
    public let fingerprint: UInt64
    public let runID: UInt64
    /// Called after each round is checkpointed (the cluster tells its clients).
    private let afterSave: (Int) -> Void

    public init(run: URL, fingerprint: UInt64, runID: UInt64, afterSave: @escaping (Int) -> Void = { _ in }) {
        self.run = run
        self.fingerprint = fingerprint
        self.runID = runID
        self.afterSave = afterSave
    }

    public func runStarted(from record: RoundRecord, resumed: Bool, engine: RoundEngine) throws {
        if !resumed {
            try Checkpoint(
                fingerprint: fingerprint, runID: runID, round: 0, engine: engine, record: record, clients: []
            ).save(in: run)
        }
    }

    public func roundFinished(_ outcome: RoundOutcome, engine: RoundEngine) throws {
        let round = outcome.record.round
        try Checkpoint(
            fingerprint: fingerprint, runID: runID, round: round, engine: engine, record: outcome.record,
            clients: outcome.clientRecords
        ).save(in: run)
        afterSave(round)
    }
}

/// Prints one line per round (`ProgressLine`).
public final class ProgressPrinter: RunObserver {
    private let total: Int
    private let print: (String) -> Void
    public init(total: Int, print: @escaping (String) -> Void) {
        self.total = total
        self.print = print
    }

    public func runStarted(from record: RoundRecord, resumed: Bool, engine: RoundEngine) throws {
        print(ProgressLine.format(record, of: total))
    }

    public func roundFinished(_ outcome: RoundOutcome, engine: RoundEngine) throws {
        print(ProgressLine.format(outcome.record, of: total))
    }
}

/// One terminal line per round.
public enum ProgressLine {
    public static func format(_ r: RoundRecord, of total: Int) -> String {
        let width = String(total).count
        let round = String(repeating: " ", count: max(0, width - String(r.round).count)) + String(r.round)
        var parts = ["round \(round)/\(total)"]
        if let a = r.testAccuracy { parts.append(String(format: "test acc %.4f", a)) }
        if let rmse = r.testRMSE { parts.append(String(format: "test rmse %.4f", rmse)) }
        parts.append(String(format: "test loss %.4f", r.testLoss))
        parts.append(r.trainLoss.map { String(format: "train loss %.4f", $0) } ?? "train loss    —  ")
        parts.append(String(format: "‖w‖ %.3f", r.weightNorm))
        parts.append(String(format: "‖Δ‖ %.4f", r.updateNorm))
        parts.append("\(r.participants.count) clients")
        parts.append(String(format: "%.2fs", r.seconds))
        if let t = r.virtualTime { parts.append(String(format: "virtual %.1fs", t)) }
        parts.append(r.weightsHash)
        return parts.joined(separator: "  ")
    }
}
