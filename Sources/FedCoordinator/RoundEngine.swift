import FedClient
import FedCore
import FedData
import FedModels
import FedOptim
import FedProtocol
import FedStrategy
import Foundation

/// Runs the clients' local training for a round. The in-process pool calls virtual clients
/// directly; the distributed pool (ZeroMQ) sends the same tasks to client processes.
public protocol ClientPool: AnyObject {
    /// Trains the tasks and returns the updates that arrived (any order; at most one per task).
    func train(_ tasks: [ClientTask]) throws -> [ClientUpdate]
}

/// What one round produced: its record, the updates aggregated (client-id order) and the
/// updates left out, with the reason.
public struct RoundOutcome: Sendable {
    public var record: RoundRecord
    public var accepted: [ClientUpdate]
    public var rejected: [(clientID: Int, reason: UpdateRejection)]
    /// The accepted updates' lines for `clients.jsonl` (and the checkpoint), computed once.
    public var clientRecords: [ClientRecord]

    public init(record: RoundRecord, accepted: [ClientUpdate], rejected: [(clientID: Int, reason: UpdateRejection)]) {
        self.record = record
        self.accepted = accepted
        self.rejected = rejected
        self.clientRecords = RoundEngine.clientRecords(accepted)
    }
}

/// The global model's quality and the round's bookkeeping, one per round (round 0 is the
/// initial model). Written to `rounds.jsonl` / `rounds.csv`.
public struct RoundRecord: Codable, Sendable, Equatable {
    public var round: Int
    public var testLoss: Double
    public var testAccuracy: Double?
    public var testRMSE: Double?
    public var testR2: Double?
    /// Sample-weighted mean of the participants' local training loss (nil in round 0).
    public var trainLoss: Double?
    public var weightNorm: Double
    public var updateNorm: Double
    public var participants: [Int]
    public var samples: Int
    /// Parameter payload that crossed (or would cross) the wire: weights down, deltas up, and
    /// optimizer states both ways under the *aggregate* policy.
    public var payloadBytes: Int
    public var seconds: Double
    public var weightsHash: String
    /// The global model on the validation set (nil without `data.validation_fraction`): what
    /// selections (best round, best hyperparameters) read, never the test set.
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    public var validationRMSE: Double?
    /// With `metrics.global_train_loss`: the global model's loss over every client's training data.
    public var globalTrainLoss: Double?
    /// With `metrics.client_accuracy`: the global model's accuracy on each client's own held-out
    /// data, as the mean, the 10th percentile (nearest rank) and the worst over all clients.
    public var clientAccuracyMean: Double?
    public var clientAccuracyP10: Double?
    public var clientAccuracyMin: Double?
    /// With `clients.stragglers`: how many of the sampled clients straggled this round (under
    /// `drop` they were left out; under `partial` they sent part of their work).
    public var stragglers: Int?
    /// With `clock`: the round's length in virtual seconds (until the cohort's updates were in,
    /// or the deadline) and the virtual time at its end (the sum of the rounds so far).
    public var virtualSeconds: Double?
    public var virtualTime: Double?
    /// With `clock` and clients that can be offline: how many sampled clients were offline and
    /// never answered (none under `clock.sample_online`).
    public var offline: Int?
    /// The median over the participants of their effective per-step decay at their last local
    /// step (`Optimizer.effectiveDecay`; nil when no participant's optimizer decays).
    public var effectiveDecay: Double?
    /// Client drift: the participants' mean distance ‖Δᵢ − Δ̄‖ from the sample-weighted mean
    /// delta Δ̄ (nil in round 0) — how far apart local training carried them.
    public var clientDrift: Double?

    public init(
        round: Int, testLoss: Double, testAccuracy: Double?, testRMSE: Double?, testR2: Double?, trainLoss: Double?,
        weightNorm: Double, updateNorm: Double, participants: [Int], samples: Int, payloadBytes: Int, seconds: Double,
        weightsHash: String
    ) {
        self.round = round
        self.testLoss = testLoss
        self.testAccuracy = testAccuracy
        self.testRMSE = testRMSE
        self.testR2 = testR2
        self.trainLoss = trainLoss
        self.weightNorm = weightNorm
        self.updateNorm = updateNorm
        self.participants = participants
        self.samples = samples
        self.payloadBytes = payloadBytes
        self.seconds = seconds
        self.weightsHash = weightsHash
    }

    enum CodingKeys: String, CodingKey {
        case round
        case testLoss = "test_loss"
        case testAccuracy = "test_accuracy"
        case testRMSE = "test_rmse"
        case testR2 = "test_r2"
        case trainLoss = "train_loss"
        case weightNorm = "weight_norm"
        case updateNorm = "update_norm"
        case participants, samples
        case payloadBytes = "payload_bytes"
        case seconds
        case weightsHash = "weights_hash"
        case validationLoss = "validation_loss"
        case validationAccuracy = "validation_accuracy"
        case validationRMSE = "validation_rmse"
        case clientDrift = "client_drift"
        case effectiveDecay = "effective_decay"
        case stragglers
        case virtualSeconds = "virtual_seconds"
        case virtualTime = "virtual_time"
        case offline
        case globalTrainLoss = "global_train_loss"
        case clientAccuracyMean = "client_accuracy_mean"
        case clientAccuracyP10 = "client_accuracy_p10"
        case clientAccuracyMin = "client_accuracy_min"
    }
}

/// One participant's line in `clients.jsonl`.
public struct ClientRecord: Codable, Sendable, Equatable {
    public var round: Int
    public var client: Int
    public var samples: Int
    public var steps: Int
    public var trainLoss: Double
    public var deltaNorm: Double

    enum CodingKeys: String, CodingKey {
        case round, client, samples, steps
        case trainLoss = "train_loss"
        case deltaNorm = "delta_norm"
    }
}

/// The coordinator's round loop: sample, send tasks, aggregate in client-id order, evaluate.
public final class RoundEngine {
    public let model: Network
    public let testSet: Dataset
    public let validationSet: Dataset?
    /// Every client's training shard, when the global training loss is logged.
    public let trainingShards: [DataView]?
    /// Every client's held-out data, when per-client accuracy is logged.
    public let clientEvaluationSets: [DataView]?
    public let sampler: ClientSampler
    public let server: ServerSpec
    /// Group index of every client (clients of one group share an optimizer and state policy).
    public let groupOfClient: [Int]
    public let policyOfGroup: [StatePolicy]
    public private(set) var weights: [Float]
    /// The averaged optimizer state per group under the *aggregate* policy.
    public private(set) var sharedStates: [Int: OptimizerState] = [:]
    /// The server optimizer's state (FedAvgM, FedAdam, FedYogi, FedAdagrad).
    public private(set) var serverState = ServerState()
    public let stateAggregation: StateAggregation
    /// Each group's optimizer chain: it tells the averaging which bias corrections the moments carry.
    public let chainOfGroup: [[GradientTransform]]
    /// Who straggles each round (drawn from the sampler's seed, as the clients draw it).
    public let stragglers: Stragglers
    /// Who is online, how long each client takes and who makes the deadline (nil: no virtual clock).
    public let clock: VirtualClock?
    /// How the clients train (the clock times their work).
    public let training: LocalTraining
    /// Floats in an optimizer state of each group (what an *aggregate* state moves on the wire).
    public let stateFloatsOfGroup: [Int]
    /// With `metrics.client_accuracy`: the model's accuracy on each client's own held-out data
    /// after the last round evaluated, by client id (nil for a client without such data).
    public private(set) var clientAccuracies: [Double?]?
    /// Virtual seconds elapsed after the last round (with `clock`).
    public private(set) var virtualTime: Double = 0
    private let pool: ClientPool
    /// One per evaluation thread.
    private let workspaces: [Workspace]
    /// Each client's shard size, by id, when known: an update must claim exactly that many.
    private let sampleCounts: [Int]?

    public init(
        model: Network, testSet: Dataset, validationSet: Dataset? = nil, trainingShards: [DataView]? = nil,
        clientEvaluationSets: [DataView]? = nil, initialWeights: [Float],
        sampler: ClientSampler, server: ServerSpec,
        groupOfClient: [Int], policyOfGroup: [StatePolicy], stateAggregation: StateAggregation = StateAggregation(),
        chainOfGroup: [[GradientTransform]] = [], stragglers: Stragglers = Stragglers(), clock: VirtualClock? = nil,
        training: LocalTraining = LocalTraining(), stateFloatsOfGroup: [Int] = [], pool: ClientPool,
        threads: Int = 1, sampleCounts: [Int]? = nil
    ) {
        precondition(clock == nil || sampleCounts != nil, "the virtual clock times each client's samples")
        self.clock = clock
        self.training = training
        self.stateFloatsOfGroup = stateFloatsOfGroup
        precondition(initialWeights.count == model.parameterCount)
        self.model = model
        self.testSet = testSet
        self.validationSet = validationSet
        self.trainingShards = trainingShards
        self.clientEvaluationSets = clientEvaluationSets
        self.weights = initialWeights
        self.sampler = sampler
        self.server = server
        self.groupOfClient = groupOfClient
        self.policyOfGroup = policyOfGroup
        self.stateAggregation = stateAggregation
        self.chainOfGroup = chainOfGroup
        self.stragglers = stragglers
        self.pool = pool
        workspaces = (0..<max(1, threads)).map { _ in Workspace() }
        self.sampleCounts = sampleCounts
    }

    /// Continues from a checkpoint: the global weights and shared states after some round.
    public func restore(
        weights: [Float], sharedStates: [Int: OptimizerState], serverState: ServerState, virtualTime: Double = 0
    ) {
        precondition(weights.count == model.parameterCount)
        self.virtualTime = virtualTime
        self.weights = weights
        self.sharedStates = sharedStates
        self.serverState = serverState
    }

    /// The record of the model as it stands, before any round (round 0).
    public func initialRecord() -> RoundRecord {
        var result = record(round: 0, updates: [], meanDelta: [], seconds: 0, payload: 0)
        if clock != nil {
            result.virtualSeconds = 0
            result.virtualTime = 0
        }
        return result
    }

    /// Runs round `round` (1-based): sends the tasks, checks every update that arrived
    /// (`UpdateValidator`), aggregates the accepted ones in client-id order and evaluates.
    public func runRound(_ round: Int) throws -> RoundOutcome {
        let start = DispatchTime.now().uptimeNanoseconds
        let sampled: [Int]
        let participants: [Int]
        var late = Set<Int>()
        var timed: ClockedCohort?
        if let clock {
            let cohort = clockedCohort(round, clock)
            timed = cohort
            sampled = cohort.sampled
            participants = cohort.participants
        } else {
            sampled = sampler.sample(round: round)
            late = Set(sampled.filter { stragglers.isStraggler(seed: sampler.seed, round: round, client: $0) })
            participants = stragglers.policy == .drop ? sampled.filter { !late.contains($0) } : sampled
        }
        let tasks = participants.map { id in
            ClientTask(
                round: round, clientID: id, globalWeights: weights,
                sharedState: aggregates(id) ? sharedStates[groupOfClient[id]] : nil)
        }
        let arrived = try pool.train(tasks).sorted { $0.clientID < $1.clientID }
        var payload = 0
        for task in tasks { payload += 4 * task.globalWeights.count + 4 * (task.sharedState?.storageCount ?? 0) }
        for update in arrived { payload += 4 * update.delta.count + 4 * (update.state?.storageCount ?? 0) }
        var updates: [ClientUpdate] = []
        var rejected: [(clientID: Int, reason: UpdateRejection)] = []
        for update in arrived {
            if let reason = UpdateValidator.check(
                update, parameterCount: model.parameterCount, expectsState: aggregates(update.clientID),
                expectedSamples: sampleCounts.flatMap { update.clientID < $0.count ? $0[update.clientID] : nil })
            {
                rejected.append((update.clientID, reason))
            } else {
                updates.append(update)
            }
        }
        let meanDelta = ServerStrategy.step(updates, weights: &weights, spec: server, state: &serverState)
        for group in Set(updates.map { groupOfClient[$0.clientID] }) where policyOfGroup[group] == .aggregate {
            sharedStates[group] = Aggregation.averageStates(
                updates.filter { groupOfClient[$0.clientID] == group }, stateAggregation,
                chain: group < chainOfGroup.count ? chainOfGroup[group] : [])
        }
        var record = record(round: round, updates: updates, meanDelta: meanDelta, seconds: 0, payload: payload)
        // The evaluation is part of the round; the run driver extends this to what its
        // observers (checkpoint, logs) take before the round's line is written.
        if stragglers.fraction > 0 { record.stragglers = late.count }
        if let timed, let clock {
            virtualTime += timed.seconds
            record.virtualSeconds = timed.seconds
            record.virtualTime = virtualTime
            if clock.deadline != nil { record.stragglers = timed.late }
            if clock.hasAvailability { record.offline = timed.offline }
        }
        record.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return RoundOutcome(record: record, accepted: updates, rejected: rejected)
    }

    /// A round's cohort under the virtual clock: who was sampled, who counts, how long it took.
    struct ClockedCohort {
        var sampled: [Int]
        var participants: [Int]
        var seconds: Double
        var late: Int
        var offline: Int
    }

    /// Samples ⌈overcommit · per_round⌉ clients (among the online ones under `sample_online`),
    /// times each, and keeps the first per_round updates to arrive. The round ends when those
    /// are in, or at the deadline when fewer arrive.
    func clockedCohort(_ round: Int, _ clock: VirtualClock) -> ClockedCohort {
        let seed = sampler.seed
        let start = virtualTime
        // ⌈k · per_round⌉ of the decimal k: 1.1 × 100 is 110.00000000000001 in binary, which must
        // give 110, not 111 (a relative nudge below the product absorbs the rounding).
        let product = clock.overcommit * Double(sampler.perRound)
        let wanted = min(sampler.clientCount, Int((product - product * 1e-12).rounded(.up)))
        let checksOnline = clock.hasAvailability
        let sampled: [Int]
        if clock.sampleOnline && checksOnline {
            let online = (0..<sampler.clientCount).filter {
                clock.isOnline(seed: seed, round: round, client: $0, start: start)
            }
            sampled = sampler.sample(round: round, count: min(wanted, online.count), among: online)
        } else {
            sampled = sampler.sample(round: round, count: wanted)
        }
        var offline = 0
        var late = 0
        var arriving: [(finish: Double, id: Int)] = []
        for id in sampled {
            if checksOnline && !clock.sampleOnline
                && !clock.isOnline(seed: seed, round: round, client: id, start: start)
            {
                offline += 1
                continue
            }
            let group = groupOfClient[id]
            let aggregated = policyOfGroup[group] == .aggregate
            let stateFloats = group < stateFloatsOfGroup.count ? stateFloatsOfGroup[group] : 0
            let payload = 4 * model.parameterCount
            let timing = clock.timing(
                seed: seed, client: id, samples: sampleCounts![id], training: training,
                downBytes: payload + (aggregated && sharedStates[group] != nil ? 4 * stateFloats : 0),
                upBytes: payload + (aggregated ? 4 * stateFloats : 0))
            if !timing.complete { late += 1 }
            if timing.arrives { arriving.append((timing.finish, id)) }
        }
        arriving.sort { $0.finish != $1.finish ? $0.finish < $1.finish : $0.id < $1.id }
        let needed = min(sampler.perRound, sampled.count)
        let kept = arriving.prefix(needed)
        let seconds =
            kept.count == needed ? (kept.last?.finish ?? 0) : (clock.deadline ?? kept.map(\.finish).max() ?? 0)
        return ClockedCohort(
            sampled: sampled, participants: kept.map(\.id).sorted(), seconds: seconds, late: late, offline: offline)
    }

    /// Whether client `id`'s group averages optimizer states (*aggregate* policy).
    public func aggregates(_ id: Int) -> Bool { policyOfGroup[groupOfClient[id]] == .aggregate }

    private func record(
        round: Int, updates: [ClientUpdate], meanDelta: [Double], seconds: Double, payload: Int
    ) -> RoundRecord {
        let metrics = model.evaluate(params: weights, data: testSet, workspaces: workspaces)
        let samples = updates.reduce(0) { $0 + $1.sampleCount }
        let trainLoss =
            samples > 0 ? updates.reduce(0.0) { $0 + $1.trainLoss * Double($1.sampleCount) } / Double(samples) : nil
        var result = RoundRecord(
            round: round, testLoss: metrics.loss, testAccuracy: metrics.accuracy, testRMSE: metrics.rmse,
            testR2: metrics.r2,
            trainLoss: trainLoss, weightNorm: norm(weights.map(Double.init)), updateNorm: norm(meanDelta),
            participants: updates.map(\.clientID), samples: samples, payloadBytes: payload, seconds: seconds,
            weightsHash: WeightHash.hex(weights))
        if !updates.isEmpty {
            let mean = Aggregation.weightedMeanDelta(updates)
            var total = 0.0
            for u in updates {
                var sum = 0.0
                u.delta.withUnsafeBufferPointer { d in
                    for i in 0..<mean.count {
                        let x = Double(d[i]) - mean[i]
                        sum += x * x
                    }
                }
                total += sum.squareRoot()
            }
            result.clientDrift = total / Double(updates.count)
            let decays = updates.compactMap(\.effectiveDecay).sorted()
            if !decays.isEmpty {
                let n = decays.count
                result.effectiveDecay = n % 2 == 1 ? decays[n / 2] : (decays[n / 2 - 1] + decays[n / 2]) / 2
            }
        }
        if let trainingShards {
            var sum = 0.0
            var count = 0
            for shard in trainingShards where shard.count > 0 {
                sum += model.evaluate(params: weights, view: shard, workspaces: workspaces).loss * Double(shard.count)
                count += shard.count
            }
            result.globalTrainLoss = count > 0 ? sum / Double(count) : nil
        }
        if let clientEvaluationSets {
            let byClient = clientEvaluationSets.map { set in
                set.count > 0 ? model.evaluate(params: weights, view: set, workspaces: workspaces).accuracy : nil
            }
            clientAccuracies = byClient
            let accuracies = byClient.compactMap { $0 }.sorted()
            if !accuracies.isEmpty {
                result.clientAccuracyMean = accuracies.reduce(0, +) / Double(accuracies.count)
                result.clientAccuracyP10 = accuracies[max(0, Int((0.1 * Double(accuracies.count)).rounded(.up)) - 1)]
                result.clientAccuracyMin = accuracies[0]
            }
        }
        if let validationSet {
            let v = model.evaluate(params: weights, data: validationSet, workspaces: workspaces)
            result.validationLoss = v.loss
            result.validationAccuracy = v.accuracy
            result.validationRMSE = v.rmse
        }
        return result
    }

    /// Per-participant records for `clients.jsonl`.
    public static func clientRecords(_ updates: [ClientUpdate]) -> [ClientRecord] {
        updates.map {
            ClientRecord(
                round: $0.round, client: $0.clientID, samples: $0.sampleCount, steps: $0.steps,
                trainLoss: $0.trainLoss,
                deltaNorm: $0.delta.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())  // no Double copy
        }
    }
}

func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
