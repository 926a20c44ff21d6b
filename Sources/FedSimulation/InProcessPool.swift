import FedClient
import FedCoordinator
import FedProtocol

/// The direct, single-process pool: every virtual client in this process, called in turn. A
/// product feature (tests, sweeps, `fedsim run`), not a mock. With a snapshot store, each
/// *persist* client's state is saved after it trains, as client processes do, so
/// `fedsim run --resume` restores it.
public final class InProcessPool: ClientPool {
    public let clients: [VirtualClient]
    private let snapshots: SnapshotStore?
    private let runID: UInt64

    public init(clients: [VirtualClient], snapshots: SnapshotStore? = nil, runID: UInt64 = 0) {
        self.clients = clients
        self.snapshots = snapshots
        self.runID = runID
    }

    public func train(_ tasks: [ClientTask]) throws -> [ClientUpdate] {
        try tasks.map { task in
            let client = clients[task.clientID]
            let update = client.train(task)
            if client.policy == .persist, let snapshots { try snapshots.save(client.snapshot, runID: runID) }
            return update
        }
    }

    /// Restores every client's snapshot written for this run; returns how many there were.
    public func restoreSnapshots() throws -> Int {
        guard let snapshots else { return 0 }
        var restored = 0
        for client in clients where client.policy == .persist {
            let template = client.optimizer.initialState(
                params: [Float](repeating: 0, count: client.model.parameterCount))
            if let snapshot = try snapshots.load(client: client.id, template: template, runID: runID) {
                client.restore(snapshot)
                restored += 1
            }
        }
        return restored
    }
}
