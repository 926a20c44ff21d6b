import FedCore
import Foundation

/// Distributions built on `SeededRandom`'s uniform and normal draws, so every sampler stays
/// deterministic for a seed and identical across platforms.
extension SeededRandom {
    /// Uniform in the open interval (0, 1), safe to take the logarithm of.
    mutating func nextOpenUniform() -> Double {
        var u = nextUniform()
        while u <= 0 { u = nextUniform() }
        return u
    }

    /// `log` of a Gamma(shape, 1) draw. Marsaglia–Tsang (2000) for shape ≥ 1; for shape < 1 the
    /// boost Gamma(a) = Gamma(a + 1)·U^(1/a). Returned as a logarithm because U^(1/a) underflows
    /// to 0 for small shapes (a = 0.05 needs exponents near -1000), which would make all
    /// Dirichlet proportions 0/0.
    mutating func nextLogGamma(shape: Double) -> Double {
        precondition(shape > 0, "Gamma shape must be positive")
        if shape < 1 {
            return nextLogGamma(shape: shape + 1) + log(nextOpenUniform()) / shape
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            let x = nextNormal()
            let t = 1 + c * x
            guard t > 0 else { continue }
            let v = t * t * t
            let u = nextOpenUniform()
            if u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)) {
                return log(d * v)
            }
        }
    }

    /// Proportions ~ Dirichlet(alpha, …, alpha) over `count` categories (they sum to 1).
    mutating func nextDirichlet(alpha: Double, count: Int) -> [Double] {
        let logs = (0..<count).map { _ in nextLogGamma(shape: alpha) }
        let top = logs.max() ?? 0
        let weights = logs.map { exp($0 - top) }  // the largest is exp(0) = 1, so the sum is ≥ 1
        let total = weights.reduce(0, +)
        return weights.map { $0 / total }
    }

    /// Normal with the given mean and standard deviation.
    mutating func nextNormal(mean: Double, std: Double) -> Double {
        mean + std * nextNormal()
    }
}
