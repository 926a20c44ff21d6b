import FedOptim
import FedProtocol

/// Where *persist* clients keep their optimizer state between their rounds when not in the
/// client objects: one store shared by a run's clients, one slot each, so a client that is not
/// training holds none of its state in memory (a million stateful clients would not fit).
/// A slot holds the current state, the state it was trained from (for a retried round) and the
/// last round trained. Errors are kept by the store and reported by its owner at the end of the
/// round (`VirtualClient.train` does not throw).
public protocol ClientStateStore: AnyObject {
    /// Client `client`'s slot, decoded against `template`; nil when it never trained.
    func load(client: Int, template: OptimizerState) -> ClientSnapshot?
    /// Stores the state `client` reached in `round`. The round after its last one: the stored
    /// state becomes the state it was trained from. The same round again (a retry): the state it
    /// was trained from stays.
    func advance(client: Int, state: OptimizerState, round: Int)
    /// Overwrites the slot with `snapshot` (a restore from elsewhere).
    func replace(_ snapshot: ClientSnapshot)
}
