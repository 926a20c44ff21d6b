import FedOptim
import FedSimulation
import FedWire

/// What both sides of the wire derive from a prepared run: the codec for this run and the fresh
/// optimizer state of each client whose group aggregates states (the template its states are
/// decoded against).
struct RunWire: Sendable {
    let codec: WireCodec
    private let prepared: PreparedRun

    init(_ prepared: PreparedRun) {
        codec = WireCodec(fingerprint: prepared.fingerprint, parameterCount: prepared.model.parameterCount)
        self.prepared = prepared
    }

    /// A fresh state for client `id` when its group aggregates optimizer states, else nil.
    func stateTemplate(_ id: Int) -> OptimizerState? {
        guard id >= 0, id < prepared.groupOfClient.count else { return nil }
        let group = prepared.groupOfClient[id]
        return prepared.groups[group].state == .aggregate ? prepared.freshState(group: group) : nil
    }
}
