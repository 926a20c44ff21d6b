import FedOptim

/// A virtual client's persistent optimizer state, as snapshotted to disk after each round.
public struct ClientSnapshot: Codable, Sendable, Equatable {
    public var client: Int
    public var state: OptimizerState?
    public var lastRound: Int?
    public var stateBeforeLastRound: OptimizerState?

    public init(client: Int, state: OptimizerState?, lastRound: Int?, stateBeforeLastRound: OptimizerState?) {
        self.client = client
        self.state = state
        self.lastRound = lastRound
        self.stateBeforeLastRound = stateBeforeLastRound
    }
}
