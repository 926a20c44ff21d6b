import FedOptim
import FedProtocol

/// Server-side aggregation. Deltas are summed in client-id order and in Double, so the new
/// global weights never depend on the order in which clients finished.
public enum ServerStrategyKind: String, Codable, Sendable, CaseIterable {
    /// `w ← w + η_s · Σ n_k Δ_k / Σ n_k`.
    case fedavg
}

public struct ServerSpec: Codable, Sendable, Equatable {
    public var strategy: ServerStrategyKind
    /// Server learning rate η_s.
    public var lr: Double
    public init(strategy: ServerStrategyKind = .fedavg, lr: Double = 1) {
        self.strategy = strategy
        self.lr = lr
    }
}

public enum Aggregation {
    /// The sample-weighted mean delta `Σ n_k Δ_k / Σ n_k` in Double, summed in client-id order.
    public static func weightedMeanDelta(_ updates: [ClientUpdate]) -> [Double] {
        let sorted = updates.sorted { $0.clientID < $1.clientID }
        guard let first = sorted.first else { return [] }
        var sum = [Double](repeating: 0, count: first.delta.count)
        let total = Double(sorted.reduce(0) { $0 + $1.sampleCount })
        for u in sorted {
            let weight = Double(u.sampleCount)
            u.delta.withUnsafeBufferPointer { d in
                for i in 0..<sum.count { sum[i] += weight * Double(d[i]) }
            }
        }
        for i in 0..<sum.count { sum[i] /= total }
        return sum
    }

    /// FedAvg's step: `w ← w + η_s · avgΔ`, computed in Double and rounded once to Float.
    public static func apply(_ meanDelta: [Double], to weights: inout [Float], serverLR: Double) {
        for i in weights.indices { weights[i] = Float(Double(weights[i]) + serverLR * meanDelta[i]) }
    }

    /// The *aggregate* state policy: every state slot averaged with weights n_k (in client-id
    /// order, in Double); the step counter is the largest one and scalars come from the
    /// lowest-numbered client. Returns nil when no update carries a state.
    public static func averageStates(_ updates: [ClientUpdate]) -> OptimizerState? {
        let withState = updates.filter { $0.state != nil }.sorted { $0.clientID < $1.clientID }
        guard var result = withState.first?.state else { return nil }
        let total = Double(withState.reduce(0) { $0 + $1.sampleCount })
        for t in result.transforms.indices {
            var sum = [Double](repeating: 0, count: result.transforms[t].storage.count)
            for u in withState {
                let weight = Double(u.sampleCount)
                let storage = u.state!.transforms[t].storage
                for i in sum.indices { sum[i] += weight * Double(storage[i]) }
            }
            result.transforms[t].storage = sum.map { Float($0 / total) }
        }
        result.step = withState.map { $0.state!.step }.max()!
        return result
    }
}
