import FedOptim
import FedProtocol

/// How the *aggregate* state policy combines the participants' optimizer states.
public struct StateAggregation: Codable, Sendable, Equatable {
    public enum Moments: String, Codable, Sendable, CaseIterable {
        /// Average every slot (first and second moments alike).
        case both
        /// Average the second-moment slots (`v`, `v_max`, `square_avg`, `sum`) and restart every
        /// other slot (first moments, momentum buffers) at zero, as FedAdamW does.
        case second
    }

    public enum Weighting: String, Codable, Sendable, CaseIterable {
        /// Weighted by sample counts n_k.
        case samples
        /// Every participant counts the same.
        case uniform
    }

    public var moments: Moments
    public var weighting: Weighting

    public init(moments: Moments = .both, weighting: Weighting = .samples) {
        self.moments = moments
        self.weighting = weighting
    }

    /// Slot names that hold second-moment estimates.
    public static let secondMomentSlots: Set<String> = ["v", "v_max", "square_avg", "sum"]
}

public enum Aggregation {
    /// The sample-weighted mean delta `Σ n_k Δ_k / Σ n_k` in Double, summed in client-id order,
    /// so the result never depends on the order in which clients finished.
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

    /// The *aggregate* state policy: slots averaged (in client-id order, in Double) as
    /// `aggregation` says; the step counter is the largest one and scalars come from the
    /// lowest-numbered client. Returns nil when no update carries a state.
    public static func averageStates(
        _ updates: [ClientUpdate], _ aggregation: StateAggregation = StateAggregation()
    ) -> OptimizerState? {
        let withState = updates.filter { $0.state != nil }.sorted { $0.clientID < $1.clientID }
        guard var result = withState.first?.state else { return nil }
        let weights = withState.map { aggregation.weighting == .samples ? Double($0.sampleCount) : 1 }
        let total = weights.reduce(0, +)
        for t in result.transforms.indices {
            let n = result.transforms[t].slotCount
            var sum = [Double](repeating: 0, count: result.transforms[t].storage.count)
            for (u, weight) in zip(withState, weights) {
                let storage = u.state!.transforms[t].storage
                for i in sum.indices { sum[i] += weight * Double(storage[i]) }
            }
            var averaged = sum.map { Float($0 / total) }
            if aggregation.moments == .second {
                for (j, name) in result.transforms[t].names.enumerated()
                where !StateAggregation.secondMomentSlots.contains(name) {
                    for i in (j * n)..<((j + 1) * n) { averaged[i] = 0 }
                }
            }
            result.transforms[t].storage = averaged
        }
        result.step = withState.map { $0.state!.step }.max()!
        return result
    }
}
