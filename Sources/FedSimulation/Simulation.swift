import FedClient
import FedConfig
import FedCoordinator
import FedCore
import FedProtocol
import Foundation

/// The single-process federation: every virtual client in this process, called directly.
/// The distributed run drives the same `RoundEngine` through another `ClientPool`.
public enum Simulation {
    /// Runs all rounds of `prepared`, appending each round to `directory` (if any) and reporting
    /// progress lines. Returns every round's record (round 0 = the initial model).
    public static func run(_ prepared: PreparedRun, directory: RunDirectory?,
                           progress: (String) -> Void = { _ in }) async throws -> [RoundRecord] {
        let t = prepared.topology
        let clients = prepared.makeClients(0..<t.clients.count)
        let pool = InProcessPool(clients: (0..<t.clients.count).map { clients[$0]! })
        let engine = RoundEngine(
            model: prepared.model, testSet: prepared.testSet, initialWeights: prepared.initialWeights,
            sampler: ClientSampler(seed: t.seed, clientCount: t.clients.count, perRound: t.clients.perRound),
            server: t.server, groupOfClient: prepared.groupOfClient, policyOfGroup: prepared.groups.map(\.state),
            stateAggregation: t.clients.stateAggregation, pool: pool)
        var records = [engine.initialRecord()]
        try directory?.append(records[0], clients: [])
        progress(progressLine(records[0], of: t.rounds))
        for round in 1...t.rounds {
            let (record, updates) = try await engine.runRound(round)
            try directory?.append(record, clients: RoundEngine.clientRecords(updates))
            records.append(record)
            progress(progressLine(record, of: t.rounds))
        }
        let last = records.last!
        var summary = ["name": t.name, "rounds": String(t.rounds), "seed": String(t.seed),
                       "final_weights_hash": last.weightsHash, "final_test_loss": "\(last.testLoss)", "completed": "true"]
        if let accuracy = last.testAccuracy { summary["final_test_accuracy"] = "\(accuracy)" }
        if let rmse = last.testRMSE { summary["final_test_rmse"] = "\(rmse)" }
        try directory?.finish(weights: engine.weights, summary: summary)
        return records
    }

    /// One terminal line per round.
    public static func progressLine(_ r: RoundRecord, of total: Int) -> String {
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
        parts.append(r.weightsHash)
        return parts.joined(separator: "  ")
    }
}
