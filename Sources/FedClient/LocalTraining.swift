import FedCore

/// How long and on what batches a client trains each round.
public struct LocalTraining: Sendable, Equatable, Codable {
    public enum Length: Sendable, Equatable, Codable {
        /// Full passes over the shard.
        case epochs(Int)
        /// Optimizer steps, reshuffling at every pass over the shard.
        case steps(Int)
    }

    public var length: Length
    /// Samples per batch; 0 means the whole shard (full-batch gradient descent).
    public var batchSize: Int

    public init(length: Length = .epochs(1), batchSize: Int = 32) {
        self.length = length
        self.batchSize = batchSize
    }
}

/// Systems heterogeneity as the FedProx paper simulates it: each round, every sampled client is
/// a straggler with probability `fraction`, and a straggler manages only part of its local
/// work — a number of epochs (or steps) drawn uniformly from [1, E) for a configured E. The
/// draw is a pure function of (train seed, round, client), so the coordinator and every client
/// process agree on it without a message, and in-process and cluster runs give the same numbers.
public struct Stragglers: Sendable, Equatable, Codable {
    public enum Policy: String, Sendable, Equatable, Codable, CaseIterable {
        /// Stragglers are left out of the round (FedAvg's rule in the FedProx paper: the server
        /// does not wait for them).
        case drop
        /// Stragglers send the partial work they managed (FedProx's rule).
        case partial
    }

    /// The probability that a sampled client straggles in a round (0: none).
    public var fraction: Double
    public var policy: Policy

    public init(fraction: Double = 0, policy: Policy = .drop) {
        self.fraction = fraction
        self.policy = policy
    }

    /// Whether `client` straggles in `round`.
    public func isStraggler(seed: UInt64, round: Int, client: Int) -> Bool {
        guard fraction > 0 else { return false }
        var rng = SeededRandom(seed: seed).derive(SeedStream.stragglers.rawValue, UInt64(round), UInt64(client))
        return rng.nextUniform() < fraction
    }

    /// The local work a straggler manages: E' uniform in [1, E) epochs or steps (E itself when E is 1).
    public func partialLength(
        _ full: LocalTraining.Length, seed: UInt64, round: Int, client: Int
    ) -> LocalTraining.Length {
        var rng = SeededRandom(seed: seed).derive(SeedStream.stragglers.rawValue, UInt64(round), UInt64(client), 1)
        func part(_ n: Int) -> Int { n <= 1 ? n : 1 + rng.nextInt(below: n - 1) }
        switch full {
        case .epochs(let e): return .epochs(part(e))
        case .steps(let k): return .steps(part(k))
        }
    }
}
