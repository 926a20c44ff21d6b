import FedSimulation
import FedTopology
import FedTransportZMQ
import Foundation

/// The coordinator process: binds, waits for the client processes, and runs the rounds through
/// the same `RunDriver` as the single-process run, with `ClusterCoordinator` as its pool. It
/// writes the same run directory as `fedsim run`, plus `endpoint` and `events.log`.
public enum CoordinatorRun {
    /// The CURVE keys a coordinator of `t` on `endpoint` runs with: its pair from `keyFile`
    /// (which must be the key `cluster.curve.coordinator` names) and the allow-list of client
    /// keys; nil when the run has no `cluster.curve`, which only loopback endpoints (or
    /// `cluster.insecure`) allow.
    public static func security(
        for t: Topology, keyFile: String?, endpoint: String
    ) throws -> (
        keys: CurveKeyPair, clients: ClientKeyList
    )? {
        guard let curve = t.cluster.curve else {
            try refusePlaintextOffLoopback(t, endpoint: endpoint)
            return nil
        }
        guard let keyFile else {
            throw RunInputError("cluster.curve is set: give the coordinator's secret key with --key FILE")
        }
        let keys = try CurveKeyFile.loadPair(keyFile)
        guard keys.publicKey == (try CurveKeyFile.loadPublic(curve.coordinatorKey)) else {
            throw RunInputError(
                "--key \(keyFile) is not the key cluster.curve.coordinator names (\(curve.coordinatorKey))")
        }
        guard let list = curve.clients else {
            throw RunInputError("cluster.curve.clients: the coordinator needs the allow-list of client keys")
        }
        return (keys, try ClientKeyList.load(list, clientCount: t.clients.count))
    }

    /// - Parameters:
    ///   - resume: the checkpoint to continue from (the run directory was reopened at its round).
    ///   - security: CURVE keys (see `security(for:keyFile:endpoint:)`); nil: none.
    ///   - onBound: called with the endpoint actually bound, before waiting for clients.
    public static func run(
        prepared: PreparedRun, directory: RunDirectory, context: ZMQContext, endpoint: String,
        resume: Checkpoint?, events: EventLog, security: (keys: CurveKeyPair, clients: ClientKeyList)? = nil,
        shouldStop: @escaping () -> Bool, onBound: (String) -> Void = { _ in }, progress: ((String) -> Void)?
    ) throws -> RunResult {
        let t = prepared.topology
        let wire = RunWire(prepared)
        // A fresh id names this run instance; a resumed run keeps its own.
        let runID = resume?.runIDValue ?? UInt64.random(in: 1...UInt64.max)
        let coordinator: ClusterCoordinator
        do {
            coordinator = try ClusterCoordinator.bind(
                context: context, endpoint: endpoint, codec: wire.codec, spec: t.cluster, clientCount: t.clients.count,
                events: events, roundsCompleted: resume?.round ?? 0, runID: runID, stateTemplate: wire.stateTemplate,
                security: security, shouldStop: shouldStop)
        } catch {
            directory.discardUnstarted()  // nothing ran: leave no half-made run behind
            throw error
        }
        coordinator.fingerprintParts = prepared.fingerprintParts
        // `endpoint` tells scripts (and client processes started by hand) where to connect.
        try RunDirectory.writeAtomically(
            Data((coordinator.boundEndpoint + "\n").utf8), to: directory.url.appendingPathComponent("endpoint"))
        onBound(coordinator.boundEndpoint)
        defer { coordinator.shutdown() }
        var observers: [RunObserver] = [
            CheckpointRecorder(run: directory.url, fingerprint: prepared.fingerprint, runID: runID) {
                coordinator.finished(round: $0)
            },
            RunDirectoryRecorder(directory),
        ]
        if let progress { observers.append(ProgressPrinter(total: t.rounds, print: progress)) }
        let driver = try RunDriver(
            prepared: prepared, pool: coordinator, mode: .cluster, resume: resume, events: events, observers: observers)
        return try driver.run(beforeFirstRound: { try coordinator.waitForClients() }, shouldStop: shouldStop)
    }
}
