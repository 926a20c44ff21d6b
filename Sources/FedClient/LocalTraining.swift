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
