import FedOptim
import FedProtocol
import FedSimulation

/// What both sides of the wire derive from a prepared run: the fresh optimizer state of each
/// client's group (slot names for decoding aggregated states) and the codec for this run.
struct RunWire: Sendable {
    let codec: WireCodec
    private let templates: [OptimizerState]
    private let groupOf: [Int]
    private let aggregates: [Bool]

    init(_ prepared: PreparedRun) {
        let zeros = [Float](repeating: 0, count: prepared.model.parameterCount)
        let templates = prepared.groups.map { Optimizer($0.optimizer, layout: prepared.model.layout).initialState(params: zeros) }
        let groupOf = prepared.groupOfClient
        let aggregates = prepared.groups.map { $0.state == .aggregate }
        let shapes = templates.map { WireCodec.shape(of: $0) }
        codec = WireCodec(fingerprint: prepared.fingerprint, parameterCount: prepared.model.parameterCount) { id in
            guard id >= 0, id < groupOf.count, aggregates[groupOf[id]] else { return nil }
            return shapes[groupOf[id]]
        }
        self.templates = templates
        self.groupOf = groupOf
        self.aggregates = aggregates
    }

    /// A fresh state for client `id` when its group aggregates optimizer states, else nil.
    func stateTemplate(_ id: Int) -> OptimizerState? {
        guard id >= 0, id < groupOf.count, aggregates[groupOf[id]] else { return nil }
        return templates[groupOf[id]]
    }
}
