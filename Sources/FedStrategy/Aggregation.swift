import FedOptim
import FedProtocol
import Foundation

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
    /// `aggregation` says; the step counter is the largest one, T, and other scalars come from
    /// the lowest-numbered client. Returns nil when no update carries a state.
    ///
    /// Participants may have taken different numbers of steps (their shards differ), and Adam's
    /// moments mean something only with their bias corrections: with `chain` given, each
    /// client's `m` and `v` of an Adam-family transform (Adam, AMSGrad, RAdam: `m`, `v`,
    /// `v_max`; NAdam: `v`) are bias-corrected with its own counts (`m̂ = m/(1−β₁^k)`,
    /// `v̂ = v/(1−β₂^t)`), averaged, and stored back for the common counts (`m = m̄̂·(1−β₁^K)`,
    /// `v = v̄̂·(1−β₂^T)`), so the next step corrects them exactly as if one client had held
    /// the averaged estimates. When every client took the same steps the factors are exactly 1
    /// and this is the plain average. Under `moments: second` the first moments restart at zero
    /// and so does their own step count (`FirstMomentSteps`); NAdam's μ product restarts at 1.
    public static func averageStates(
        _ updates: [ClientUpdate], _ aggregation: StateAggregation = StateAggregation(),
        chain: [GradientTransform] = []
    ) -> OptimizerState? {
        let withState = updates.filter { $0.state != nil }.sorted { $0.clientID < $1.clientID }
        guard var result = withState.first?.state else { return nil }
        let weights = withState.map { aggregation.weighting == .samples ? Double($0.sampleCount) : 1 }
        let total = weights.reduce(0, +)
        let steps = withState.map { $0.state!.step }
        let commonStep = steps.max()!
        for t in result.transforms.indices {
            let n = result.transforms[t].slotCount
            let transform = t < chain.count && chain.count == result.transforms.count ? chain[t] : nil
            let correction = BiasCorrection(transform)
            var firstSteps = steps
            if correction.firstMomentCounter {
                firstSteps = withState.map { u in
                    let s = u.state!.transforms[t].scalars
                    return s.isEmpty || !s[0].isFinite ? u.state!.step : Int(min(max(s[0], 0), Double(u.state!.step)))
                }
            }
            let commonFirstStep = firstSteps.max()!
            var averaged = [Float](repeating: 0, count: result.transforms[t].storage.count)
            for (j, name) in result.transforms[t].names.enumerated() {
                let isSecond = StateAggregation.secondMomentSlots.contains(name)
                if aggregation.moments == .second && !isSecond { continue }  // restarts at zero
                // factor_k = (1 − β^common)/(1 − β^own_k): exactly 1 when the counts agree.
                let beta: Double? =
                    isSecond
                    ? correction.beta2 : (name == "m" && correction.firstMomentCounter ? correction.beta1 : nil)
                let factors: [Double] = (0..<withState.count).map { k in
                    guard let beta else { return 1 }
                    let own = isSecond ? steps[k] : firstSteps[k]
                    let common = isSecond ? commonStep : commonFirstStep
                    return own == common || own == 0
                        ? 1 : (1 - pow(beta, Double(common))) / (1 - pow(beta, Double(own)))
                }
                var sum = [Double](repeating: 0, count: n)
                for (k, u) in withState.enumerated() {
                    let scale = weights[k] * factors[k]
                    u.state!.transforms[t].storage.withUnsafeBufferPointer { storage in
                        for i in 0..<n { sum[i] += scale * Double(storage[j * n + i]) }
                    }
                }
                for i in 0..<n { averaged[j * n + i] = Float(sum[i] / total) }
            }
            result.transforms[t].storage = averaged
            if correction.firstMomentCounter {
                result.transforms[t].scalars[0] = aggregation.moments == .second ? 0 : Double(commonFirstStep)
            } else if case .scaleByNAdam = transform, aggregation.moments == .second {
                result.transforms[t].scalars[0] = 1
            }
        }
        result.step = commonStep
        return result
    }

    /// Which decay rates correct a transform's moments.
    private struct BiasCorrection {
        var beta1: Double?
        var beta2: Double?
        /// Whether the transform's first scalar counts its `m`'s own steps.
        var firstMomentCounter = false

        init(_ transform: GradientTransform?) {
            switch transform {
            case .scaleByAdam(let b1, let b2, _, _), .scaleByRAdam(let b1, let b2, _):
                (beta1, beta2, firstMomentCounter) = (b1, b2, true)
            case .scaleByNAdam(_, let b2, _, _):
                beta2 = b2
            default:
                break
            }
        }
    }
}
