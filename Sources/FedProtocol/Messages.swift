import FedOptim

/// What happens to a client's optimizer state between the rounds it takes part in.
public enum StatePolicy: String, Codable, Sendable, CaseIterable {
    /// The client keeps its moments and step counter across its rounds.
    case persist
    /// Fresh state every round.
    case reset
    /// The server averages the moments (weighted by sample counts) with the weights and hands
    /// the average back at the start of the next round.
    case aggregate
}

/// The work for one client in one round: the global weights to start from and, under the
/// *aggregate* policy, the averaged optimizer state of the client's group.
public struct ClientTask: Sendable {
    public var round: Int
    public var clientID: Int
    public var globalWeights: [Float]
    public var sharedState: OptimizerState?

    public init(round: Int, clientID: Int, globalWeights: [Float], sharedState: OptimizerState?) {
        self.round = round
        self.clientID = clientID
        self.globalWeights = globalWeights
        self.sharedState = sharedState
    }
}

/// What a client returns: `Δ = w_local − w_global`, its sample count and metrics, and (under the
/// *aggregate* policy) its final optimizer state.
public struct ClientUpdate: Sendable, Equatable {
    public var round: Int
    public var clientID: Int
    public var sampleCount: Int
    public var delta: [Float]
    /// Mean loss over the local training batches (weighted by batch size).
    public var trainLoss: Double
    public var steps: Int
    public var state: OptimizerState?
    /// The decay's effective per-step fraction at the client's last local step
    /// (`Optimizer.effectiveDecay`), nil when its optimizer does not decay.
    public var effectiveDecay: Double?

    public init(
        round: Int, clientID: Int, sampleCount: Int, delta: [Float], trainLoss: Double, steps: Int,
        state: OptimizerState?, effectiveDecay: Double? = nil
    ) {
        self.round = round
        self.clientID = clientID
        self.sampleCount = sampleCount
        self.delta = delta
        self.trainLoss = trainLoss
        self.steps = steps
        self.state = state
        self.effectiveDecay = effectiveDecay
    }
}
