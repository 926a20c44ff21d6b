/// The labels of FedSim's independent random streams, all derived from the topology seed, so
/// that e.g. the client sample of round r depends only on (seed, r).
public enum SeedStream: UInt64 {
    case data = 1
    case split, partition, modelInit, sampling, shuffle
    /// Dropout masks: one stream per client, round and local step.
    case dropout
    /// The validation split held out from the training data.
    case validation
    /// Which sampled clients straggle in a round, and how much of their work they manage.
    case stragglers
    /// The virtual clock: each client's device, and who is online in a round.
    case clock
}
