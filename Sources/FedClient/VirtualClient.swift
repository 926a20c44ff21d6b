import FedCore
import FedData
import FedModels
import FedOptim
import FedProtocol

/// The memory local training reuses: the network's workspace (activations, patches) and the
/// gradient buffer. Owned by a worker (a thread), not by a client, so a federation of many
/// clients holds one per worker, and a training step allocates nothing.
public final class TrainingScratch {
    let workspace = Workspace()
    var gradient: [Float] = []
    var proximalPull: [Float] = []
    public init() {}
}

/// What the clients of one group share: the model, the optimizer and how they train — one
/// object per group, not a copy per client (with a million clients the copies were most of
/// the memory: about 0.6 KB each).
public final class ClientSetup {
    public let model: Network
    public let optimizer: Optimizer
    public let policy: StatePolicy
    public let training: LocalTraining
    /// FedProx's μ: the step is pulled by `μ(w − w_global)` (0: plain local training), through
    /// the gradient or after the step (`proximalCoupling`).
    public let proximalMu: Float
    public let proximalCoupling: ProximalCoupling
    /// Under `partial`, a straggler trains only the part of its local work it managed.
    public let stragglers: Stragglers
    /// With a deadline and `late: partial`, a client trains only the steps that fit before it.
    public let clock: VirtualClock?
    /// The train seed: shuffling, dropout and straggling derive from it.
    public let seed: UInt64
    /// FedBN (`model.batch_norm: local`): the parameter ranges each client keeps as its own —
    /// every batch norm's weight, bias and running statistics. Empty: every parameter comes
    /// from the global model.
    public let localRanges: [Range<Int>]
    /// How many parameters `localRanges` hold.
    public let localCount: Int

    public init(
        model: Network, optimizer: Optimizer, policy: StatePolicy, training: LocalTraining, seed: UInt64,
        proximalMu: Double = 0, proximalCoupling: ProximalCoupling = .coupled, stragglers: Stragglers = Stragglers(),
        clock: VirtualClock? = nil, localRanges: [Range<Int>] = []
    ) {
        precondition(localRanges.isEmpty || policy == .persist, "local parameters live in the persistent state")
        self.localRanges = localRanges
        self.localCount = localRanges.reduce(0) { $0 + $1.count }
        self.clock = clock
        self.model = model
        self.optimizer = optimizer
        self.policy = policy
        self.training = training
        self.proximalMu = Float(proximalMu)
        self.proximalCoupling = proximalCoupling
        self.stragglers = stragglers
        self.seed = seed
    }

    /// The name of the extra transform state that carries a client's local parameters.
    public static let localTransformName = "local_parameters"

    /// A fresh persistent state of this group: the optimizer's, and with local parameters one
    /// more transform state holding them (what the state file's slots and snapshots must hold).
    public func persistentTemplate() -> OptimizerState {
        Self.persistentTemplate(
            optimizer.initialState(params: [Float](repeating: 0, count: model.parameterCount)), localCount: localCount)
    }

    /// `fresh` (an optimizer's initial state) with room for `localCount` local parameters.
    public static func persistentTemplate(_ fresh: OptimizerState, localCount: Int) -> OptimizerState {
        var state = fresh
        if localCount > 0 { state.transforms.append(TransformState(names: [localTransformName], count: localCount)) }
        return state
    }

    /// Splits a stored state into the optimizer's part and the local parameters (nil without).
    func split(_ stored: OptimizerState) -> (optimizer: OptimizerState, local: [Float]?) {
        guard localCount > 0, stored.transforms.last?.names == [Self.localTransformName] else { return (stored, nil) }
        var state = stored
        let local = state.transforms.removeLast().storage
        return (state, local)
    }

    /// The optimizer state with `weights`' local parameters appended, as it is stored.
    func joined(_ state: OptimizerState, localFrom weights: [Float]) -> OptimizerState {
        guard localCount > 0 else { return state }
        var stored = state
        var local = TransformState(names: [Self.localTransformName], count: 0)
        local.storage.reserveCapacity(localCount)
        for range in localRanges { local.storage += weights[range] }
        stored.transforms.append(local)
        return stored
    }
}

/// One simulated client: its shard, its group's setup and its optimizer state.
/// Not thread-safe; a virtual client is driven by one task at a time.
public final class VirtualClient {
    public let id: Int
    /// The client's training samples: rows of the run's one pooled data set.
    public let shard: DataView
    public let setup: ClientSetup
    public var model: Network { setup.model }
    public var optimizer: Optimizer { setup.optimizer }
    public var policy: StatePolicy { setup.policy }
    public var training: LocalTraining { setup.training }
    public var proximalMu: Float { setup.proximalMu }
    public var proximalCoupling: ProximalCoupling { setup.proximalCoupling }
    public var stragglers: Stragglers { setup.stragglers }
    private var seed: UInt64 { setup.seed }
    /// Where the *persist* state lives between rounds (nil: in this object).
    public let stateStore: (any ClientStateStore)?
    private var memoryState: OptimizerState?
    private var memoryLastRound: Int?
    private var memoryBefore: OptimizerState?
    /// The state kept between rounds under *persist*.
    public var persistentState: OptimizerState? { stored().state }
    /// The last round this client trained, and the persisted state it started that round from:
    /// a repeated task for the same round (a retried round, a resumed coordinator) starts from
    /// the same state again, so retries never change the numbers.
    public var lastRound: Int? { stored().lastRound }
    public var stateBeforeLastRound: OptimizerState? { stored().stateBeforeLastRound }

    public convenience init(
        id: Int, shard: Dataset, model: Network, optimizer: Optimizer, policy: StatePolicy,
        training: LocalTraining, seed: UInt64, proximalMu: Double = 0, proximalCoupling: ProximalCoupling = .coupled,
        stragglers: Stragglers = Stragglers(), stateStore: (any ClientStateStore)? = nil
    ) {
        self.init(
            id: id, shard: DataView(whole: shard),
            setup: ClientSetup(
                model: model, optimizer: optimizer, policy: policy, training: training, seed: seed,
                proximalMu: proximalMu, proximalCoupling: proximalCoupling, stragglers: stragglers),
            stateStore: stateStore)
    }

    public convenience init(
        id: Int, shard: Dataset, setup: ClientSetup, stateStore: (any ClientStateStore)? = nil
    ) {
        self.init(id: id, shard: DataView(whole: shard), setup: setup, stateStore: stateStore)
    }

    public init(id: Int, shard: DataView, setup: ClientSetup, stateStore: (any ClientStateStore)? = nil) {
        self.id = id
        self.shard = shard
        self.setup = setup
        self.stateStore = setup.policy == .persist ? stateStore : nil
    }

    /// Restores a persisted state (e.g. from a snapshot after a restart).
    public func restore(_ snapshot: ClientSnapshot) {
        if let stateStore {
            stateStore.replace(
                ClientSnapshot(
                    client: id, state: snapshot.state, lastRound: snapshot.lastRound,
                    stateBeforeLastRound: snapshot.stateBeforeLastRound))
            return
        }
        memoryState = snapshot.state
        memoryLastRound = snapshot.lastRound
        memoryBefore = snapshot.stateBeforeLastRound
    }

    /// What must survive a restart of the process hosting this client.
    public var snapshot: ClientSnapshot { stored() }

    /// The persisted state, last round and state before it, from the store or this object.
    private func stored() -> ClientSnapshot {
        guard let stateStore else {
            return ClientSnapshot(
                client: id, state: memoryState, lastRound: memoryLastRound, stateBeforeLastRound: memoryBefore)
        }
        return stateStore.load(client: id, template: setup.persistentTemplate())
            ?? ClientSnapshot(client: id, state: nil, lastRound: nil, stateBeforeLastRound: nil)
    }

    /// Trains from the task's global weights and returns the delta, in fresh scratch memory.
    public func train(_ task: ClientTask) -> ClientUpdate { train(task, scratch: TrainingScratch()) }

    /// Trains from the task's global weights and returns the delta. The result does not depend
    /// on what `scratch` held before: every buffer is written before it is read.
    public func train(_ task: ClientTask, scratch: TrainingScratch) -> ClientUpdate {
        precondition(task.globalWeights.count == model.parameterCount)
        let workspace = scratch.workspace
        var weights = task.globalWeights
        var gradient: [Float] = []
        swap(&gradient, &scratch.gradient)
        if gradient.count != model.parameterCount { gradient = [Float](repeating: 0, count: model.parameterCount) }
        defer { swap(&gradient, &scratch.gradient) }
        let decoupledPull = proximalMu > 0 && proximalCoupling == .decoupled
        var pull: [Float] = []
        swap(&pull, &scratch.proximalPull)
        if decoupledPull && pull.count != model.parameterCount {
            pull = [Float](repeating: 0, count: model.parameterCount)
        }
        defer { swap(&pull, &scratch.proximalPull) }
        let saved =
            policy == .persist
            ? stored() : ClientSnapshot(client: id, state: nil, lastRound: nil, stateBeforeLastRound: nil)
        var kept = saved.state
        if let lastRound = saved.lastRound, task.round <= lastRound { kept = saved.stateBeforeLastRound }
        let startedFrom = kept  // as stored: a retry of this round starts from it again
        if let stored = kept {
            // FedBN: the client's own batch norms replace the global model's before it trains.
            let (optimizerPart, local) = setup.split(stored)
            kept = optimizerPart
            if let local {
                var offset = 0
                for range in setup.localRanges {
                    weights.replaceSubrange(range, with: local[offset..<(offset + range.count)])
                    offset += range.count
                }
            }
        }
        var state: OptimizerState =
            switch policy {
            case .persist: kept ?? optimizer.initialState(params: weights)
            case .reset: optimizer.initialState(params: weights)
            case .aggregate: task.sharedState ?? optimizer.initialState(params: weights)
            }
        if optimizer.spec.lookahead != nil { state.slowWeights = weights }  // Lookahead restarts from the global model

        let n = shard.count
        let batch = training.batchSize == 0 ? n : min(training.batchSize, n)
        var length = training.length
        if stragglers.policy == .partial, stragglers.isStraggler(seed: seed, round: task.round, client: id) {
            length = stragglers.partialLength(length, seed: seed, round: task.round, client: id)
        }
        if let clock = setup.clock, clock.deadline != nil, clock.late == .partial {
            // The same timing the coordinator computed when it chose this round's participants.
            let payload = 4 * model.parameterCount
            let timing = clock.timing(
                seed: seed, client: id, samples: n, training: training,
                downBytes: payload + 4 * (task.sharedState?.storageCount ?? 0),
                upBytes: payload + (policy == .aggregate ? 4 * state.storageCount : 0))
            if !timing.complete { length = .steps(max(1, timing.steps)) }
        }
        let totalSteps: Int =
            switch length {
            case .epochs(let e): e * ((n + batch - 1) / batch)
            case .steps(let k): k
            }
        var order = Array(0..<n)
        let rows = shard.rows
        var batchRows = [Int](repeating: 0, count: batch)  // this step's samples as rows of the pooled data
        var epoch = 0
        var position = n  // forces a shuffle before the first batch
        var lossSum = 0.0
        var lossCount = 0
        let root = SeededRandom(seed: seed)
        let stochastic = model.isStochastic
        let runningStatistics = model.hasRunningStatistics
        for step in 0..<totalSteps {
            if position >= n {
                var rng = root.derive(SeedStream.shuffle.rawValue, UInt64(id), UInt64(task.round), UInt64(epoch))
                order = Array(0..<n)
                if batch < n { rng.shuffle(&order) }
                epoch += 1
                position = 0
            }
            let end = min(position + batch, n)
            for i in position..<end { batchRows[i - position] = rows[order[i]] }
            let loss = batchRows[0..<(end - position)].withUnsafeBufferPointer { idx in
                weights.withUnsafeBufferPointer { w in
                    gradient.withUnsafeMutableBufferPointer { g in
                        model.lossAndGradient(
                            params: w, data: shard.base, indices: idx, gradient: g, workspace: workspace,
                            randomness: stochastic
                                ? root.derive(SeedStream.dropout.rawValue, UInt64(id), UInt64(task.round), UInt64(step))
                                : nil)
                    }
                }
            }
            let mu = proximalMu
            if proximalMu > 0 && !decoupledPull {
                for i in gradient.indices { gradient[i] = gradient[i] + mu * (weights[i] - task.globalWeights[i]) }
            } else if decoupledPull {
                for i in gradient.indices { pull[i] = mu * (weights[i] - task.globalWeights[i]) }
            }
            lossSum += loss * Double(end - position)
            lossCount += end - position
            optimizer.step(params: &weights, gradients: &gradient, state: &state)
            if decoupledPull {
                let lr = Float(optimizer.learningRate(step: state.step))
                for i in weights.indices { weights[i] = weights[i] - lr * pull[i] }
            }
            if runningStatistics { model.updateRunningStatistics(&weights, from: workspace) }
            position = end
        }
        if policy == .persist {
            let stored = setup.joined(state, localFrom: weights)
            if let stateStore {
                stateStore.advance(client: id, state: stored, round: task.round)
            } else {
                memoryBefore = startedFrom
                memoryLastRound = task.round
                memoryState = stored
            }
        }
        var delta = weights
        weights = []
        for i in delta.indices { delta[i] = delta[i] - task.globalWeights[i] }
        return ClientUpdate(
            round: task.round, clientID: id, sampleCount: n, delta: delta,
            trainLoss: lossCount > 0 ? lossSum / Double(lossCount) : .nan,
            steps: totalSteps, state: policy == .aggregate ? state : nil,
            // Rounded to Float32 as the wire carries it, so both run modes log the same value.
            effectiveDecay: optimizer.effectiveDecay(state: state).map { Double(Float($0)) })
    }
}
