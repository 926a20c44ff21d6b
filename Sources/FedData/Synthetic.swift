import FedCore
import Foundation

/// Synthetic data sets with known structure, for tests and for experiments that need a
/// controlled amount of heterogeneity. Each is a pure function of the generator's state.
public enum Synthetic {
    /// Regression data `y = w·x + bias + noise·ε` with `x, w, ε ~ N(0, 1)`; returns the true
    /// weights so tests can check that training recovers them.
    public static func linearRegression(
        count: Int, features: Int, noise: Float, bias: Float, rng: inout SeededRandom
    ) -> (data: Dataset, weights: [Float], bias: Float) {
        precondition(count >= 0 && features > 0, "need count ≥ 0 and features > 0")
        let weights = (0..<features).map { _ in Float(rng.nextNormal()) }
        var x = [Float]()
        x.reserveCapacity(count * features)
        var y = [Float]()
        y.reserveCapacity(count)
        for _ in 0..<count {
            var dot = bias
            for j in 0..<features {
                let value = Float(rng.nextNormal())
                x.append(value)
                dot += weights[j] * value
            }
            y.append(dot + noise * Float(rng.nextNormal()))
        }
        return (Dataset(features: x, featureCount: features, targets: .values(y)), weights, bias)
    }

    /// Gaussian blobs: class centres ~ N(0, 3²) per coordinate, samples `centre + spread·N(0, 1)`,
    /// labels assigned round-robin so classes are balanced to within one sample.
    public static func blobs(count: Int, features: Int, classes: Int, spread: Float, rng: inout SeededRandom) -> Dataset
    {
        precondition(count >= 0 && features > 0 && classes > 0, "need count ≥ 0, features > 0, classes > 0")
        let centres = (0..<(classes * features)).map { _ in Float(3 * rng.nextNormal()) }
        var x = [Float]()
        x.reserveCapacity(count * features)
        let labels = (0..<count).map { Int32($0 % classes) }
        for label in labels {
            let centre = Int(label) * features
            for j in 0..<features { x.append(centres[centre + j] + spread * Float(rng.nextNormal())) }
        }
        return Dataset(features: x, featureCount: features, targets: .classes(labels, classCount: classes))
    }

    /// Dimension and class count of the FedProx Synthetic(α, β) data.
    public static let fedProxFeatures = 60
    public static let fedProxClasses = 10

    /// Synthetic(α, β) from the FedProx paper (Li et al., MLSys 2020) and its reference generator:
    /// α controls how much clients' models differ, β how much their inputs differ. Per client k:
    /// u_k ~ N(0, α), B_k ~ N(0, β); W_k (10×60) and b_k ~ N(u_k, 1); v_k[j] ~ N(B_k, 1);
    /// x ~ N(v_k, Σ) with Σ = diag((j+1)^-1.2); y = argmax(W_k x + b_k). N(μ, σ²) takes the
    /// variance, so u_k has standard deviation √α. Client sizes are lognormal(4, 2) rounded, + 50, capped
    /// at 1000 samples (the reference does not cap; its heaviest clients would dominate memory).
    /// Client k draws from `rng.derive(k)`, so adding clients does not change earlier ones.
    public static func fedProx(alpha: Double, beta: Double, clients: Int, rng: inout SeededRandom) -> [Dataset] {
        precondition(alpha >= 0 && beta >= 0 && clients >= 0, "need alpha, beta, clients ≥ 0")
        let datasets = (0..<clients).map { k in
            var clientRNG = rng.derive(UInt64(k))
            return fedProxClient(alpha: alpha, beta: beta, rng: &clientRNG)
        }
        _ = rng.next()  // derive does not advance; advance so the next call gives new clients
        return datasets
    }

    /// Samples per FedProx client: lognormal(4, 2) rounded, plus 50, at most 1000.
    static func fedProxClientSize(rng: inout SeededRandom) -> Int {
        Int(min(exp(rng.nextNormal(mean: 4, std: 2)).rounded() + 50, 1000))
    }

    private static func fedProxClient(alpha: Double, beta: Double, rng: inout SeededRandom) -> Dataset {
        let d = fedProxFeatures
        let classes = fedProxClasses
        let size = fedProxClientSize(rng: &rng)
        let u = rng.nextNormal(mean: 0, std: alpha.squareRoot())
        let b = rng.nextNormal(mean: 0, std: beta.squareRoot())
        let w = (0..<(classes * d)).map { _ in rng.nextNormal(mean: u, std: 1) }
        let bias = (0..<classes).map { _ in rng.nextNormal(mean: u, std: 1) }
        let v = (0..<d).map { _ in rng.nextNormal(mean: b, std: 1) }
        let std = (0..<d).map { pow(Double($0 + 1), -1.2).squareRoot() }
        var x = [Float]()
        x.reserveCapacity(size * d)
        var labels = [Int32]()
        labels.reserveCapacity(size)
        var sample = [Double](repeating: 0, count: d)
        for _ in 0..<size {
            for j in 0..<d { sample[j] = rng.nextNormal(mean: v[j], std: std[j]) }
            labels.append(Int32(argmaxOfAffine(w, bias, sample)))
            x.append(contentsOf: sample.map { Float($0) })
        }
        return Dataset(features: x, featureCount: d, targets: .classes(labels, classCount: classes))
    }

    /// argmax over rows r of `w[r]·x + bias[r]` (`w` row-major, one row per class).
    private static func argmaxOfAffine(_ w: [Double], _ bias: [Double], _ x: [Double]) -> Int {
        var best = 0
        var bestScore = -Double.infinity
        for r in bias.indices {
            var score = bias[r]
            for j in x.indices { score += w[r * x.count + j] * x[j] }
            if score > bestScore {
                best = r
                bestScore = score
            }
        }
        return best
    }
}
