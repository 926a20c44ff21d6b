import FedClient
import FedCoordinator
import FedProtocol

/// The direct, single-process pool: every virtual client in this process, called in turn. A
/// product feature (tests, sweeps, `fedsim run`), not a mock. `RoundStateRecorder` saves the
/// states of the clients it trained, so `fedsim run --resume` restores them.
public final class InProcessPool: ClientPool {
    public let clients: [VirtualClient]
    /// The clients the last `train` call trained.
    public private(set) var lastTrained: [Int] = []

    public init(clients: [VirtualClient]) { self.clients = clients }

    public func train(_ tasks: [ClientTask]) throws -> [ClientUpdate] {
        lastTrained = tasks.map(\.clientID)
        return tasks.map { clients[$0.clientID].train($0) }
    }
}
