import FedOptim
import FedProtocol
import Foundation

/// The server's aggregation rules. Every rule sums in client-id order and in Double.
public enum ServerStrategyKind: String, Codable, Sendable, CaseIterable {
    /// FedAvg: `w ← w + η_s · Δ̄`, Δ̄ = Σ n_k Δ_k / Σ n_k.
    case fedavg
    /// FedAvgM (Hsu et al. 2019): `b ← β b + Δ̄`, `w ← w + η_s · b`.
    case fedavgm
    /// FedAdagrad (Reddi et al. 2021): `m ← β₁m + (1−β₁)Δ̄`, `v ← v + Δ̄²`, `w ← w + η_s m/(√v + τ)`.
    case fedadagrad
    /// FedAdam: as FedAdagrad with `v ← β₂v + (1−β₂)Δ̄²`.
    case fedadam
    /// FedYogi: as FedAdagrad with `v ← v − (1−β₂)Δ̄²·sign(v − Δ̄²)`.
    case fedyogi
    /// FedProx (Li et al. 2020): clients add `(μ/2)‖w − w_global‖²` to their loss; the server averages as FedAvg.
    case fedprox
    /// Coordinate-wise median of the participants' deltas (unweighted): `w ← w + η_s · median_k Δ_k`.
    case median
    /// Coordinate-wise trimmed mean: drop the ⌊βK⌋ largest and smallest values per coordinate, average the rest
    /// (unweighted).
    case trimmedMean = "trimmed_mean"

    public var isAdaptive: Bool { self == .fedadagrad || self == .fedadam || self == .fedyogi }
}

/// A resolved `server:` section.
public struct ServerSpec: Codable, Sendable, Equatable {
    public var strategy: ServerStrategyKind
    /// Server learning rate η_s (default 1; 0.01 for the adaptive strategies).
    public var lr: Double
    /// FedAvgM's server momentum β.
    public var momentum: Double
    /// Adaptive strategies: β₁, β₂, the adaptivity constant τ, and whether m and v are
    /// bias-corrected as in Adam (`η_s·√(1−β₂^t)/(1−β₁^t)`; off in Reddi et al., on in some
    /// implementations). v starts at τ², m at 0.
    public var beta1: Double
    public var beta2: Double
    public var tau: Double
    public var biasCorrection: Bool
    /// FedProx's proximal coefficient μ.
    public var mu: Double
    /// Where the proximal pull enters the local step (FedProx).
    public var proximal: ProximalCoupling
    /// Trimmed mean: the share β trimmed from each end, in [0, 0.5).
    public var trim: Double

    public init(strategy: ServerStrategyKind = .fedavg) {
        self.strategy = strategy
        lr = strategy.isAdaptive ? 0.01 : 1
        momentum = 0.9
        beta1 = 0.9
        beta2 = 0.99
        tau = 1e-3
        biasCorrection = false
        mu = 0.01
        proximal = .coupled
        trim = 0.1
    }

    /// The client-side proximal coefficient (0 unless FedProx).
    public var proximalMu: Double { strategy == .fedprox ? mu : 0 }
}

/// The server optimizer's state (momentum and second moments, in Double), checkpointed with
/// the global weights.
public struct ServerState: Codable, Sendable, Equatable {
    public var step: Int = 0
    public var m: [Double] = []
    public var v: [Double] = []
    public init() {}
}

public enum ServerStrategy {
    /// Aggregates one round's updates into `weights` and advances `state`. Returns the
    /// sample-weighted mean delta Δ̄ (what `update_norm` reports).
    @discardableResult
    public static func step(
        _ updates: [ClientUpdate], weights: inout [Float], spec: ServerSpec, state: inout ServerState
    ) -> [Double] {
        let mean = Aggregation.weightedMeanDelta(updates)
        guard !mean.isEmpty else { return mean }
        let n = mean.count
        state.step += 1
        switch spec.strategy {
        case .fedavg, .fedprox:
            Aggregation.apply(mean, to: &weights, serverLR: spec.lr)
        case .median, .trimmedMean:
            let robust = coordinatewise(updates, trim: spec.strategy == .median ? nil : spec.trim)
            Aggregation.apply(robust, to: &weights, serverLR: spec.lr)
        case .fedavgm:
            if state.m.count != n { state.m = [Double](repeating: 0, count: n) }
            for i in 0..<n { state.m[i] = spec.momentum * state.m[i] + mean[i] }
            Aggregation.apply(state.m, to: &weights, serverLR: spec.lr)
        case .fedadagrad, .fedadam, .fedyogi:
            if state.m.count != n {
                state.m = [Double](repeating: 0, count: n)
                state.v = [Double](repeating: spec.tau * spec.tau, count: n)
            }
            let b1 = spec.beta1
            let b2 = spec.beta2
            var rate = spec.lr
            if spec.biasCorrection {
                let t = Double(state.step)
                rate *= (1 - pow(b2, t)).squareRoot() / (1 - pow(b1, t))
            }
            var direction = [Double](repeating: 0, count: n)
            for i in 0..<n {
                let d = mean[i]
                let d2 = d * d
                state.m[i] = b1 * state.m[i] + (1 - b1) * d
                switch spec.strategy {
                case .fedadagrad: state.v[i] += d2
                case .fedadam: state.v[i] = b2 * state.v[i] + (1 - b2) * d2
                default:
                    let s: Double = state.v[i] > d2 ? 1 : (state.v[i] < d2 ? -1 : 0)
                    state.v[i] -= (1 - b2) * d2 * s
                }
                direction[i] = state.m[i] / (state.v[i].squareRoot() + spec.tau)
            }
            Aggregation.apply(direction, to: &weights, serverLR: rate)
        }
        return mean
    }

    /// Coordinate-wise median (`trim == nil`) or trimmed mean of the deltas, unweighted.
    static func coordinatewise(_ updates: [ClientUpdate], trim: Double?) -> [Double] {
        let sorted = updates.sorted { $0.clientID < $1.clientID }
        let k = sorted.count
        let n = sorted[0].delta.count
        var column = [Double](repeating: 0, count: k)
        var result = [Double](repeating: 0, count: n)
        let cut = trim.map { Int((Double(k) * $0).rounded(.down)) } ?? 0
        for i in 0..<n {
            for j in 0..<k { column[j] = Double(sorted[j].delta[i]) }
            column.sort()
            if trim == nil {
                result[i] = k % 2 == 1 ? column[k / 2] : (column[k / 2 - 1] + column[k / 2]) / 2
            } else {
                let kept = column[cut..<(k - cut)]
                result[i] = kept.reduce(0, +) / Double(kept.count)
            }
        }
        return result
    }
}
