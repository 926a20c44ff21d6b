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

    /// The run fingerprint's parts (`PreparedRun.fingerprintParts`).
    var fingerprintParts: String { prepared.fingerprintParts }

    /// Which parts differ between this run and the one described by an ERROR 2 text that
    /// carries the other side's parts (`…; parts: name=hex …`); empty when it carries none.
    func differingParts(_ errorText: String) -> [String] {
        guard let range = errorText.range(of: "parts: ") else { return [] }
        let theirs = Dictionary(
            errorText[range.upperBound...].split(separator: " ").compactMap { pair -> (String, String)? in
                let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                return kv.count == 2 ? (kv[0], kv[1]) : nil
            }, uniquingKeysWith: { a, _ in a })
        let ours = fingerprintParts.split(separator: " ").map {
            $0.split(separator: "=", maxSplits: 1).map(String.init)
        }
        return ours.compactMap { kv in kv.count == 2 && theirs[kv[0]] != kv[1] ? kv[0] : nil }
    }

    /// A fresh state for client `id` when its group aggregates optimizer states, else nil.
    func stateTemplate(_ id: Int) -> OptimizerState? {
        guard id >= 0, id < prepared.groupOfClient.count else { return nil }
        let group = prepared.groupOfClient[id]
        return prepared.groups[group].state == .aggregate ? prepared.freshState(group: group) : nil
    }
}
