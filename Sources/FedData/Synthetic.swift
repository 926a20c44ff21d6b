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

    /// How Synthetic(α, β) reads α and β and sizes its clients.
    public struct FedProxOptions: Sendable, Equatable, Codable {
        public enum Spread: String, Sendable, Equatable, Codable, CaseIterable {
            /// α and β are standard deviations, as in the reference `generate_synthetic.py`.
            case std
            /// α and β are variances (FedSim's reading before it matched the reference).
            case variance
        }
        public var spread: Spread
        /// Synthetic-IID: one W and b for every client (N(0, 1)) and inputs centred on B_k·1.
        public var iid: Bool
        /// The most samples a client may draw (nil: no cap, as in the reference).
        public var maxClientSamples: Int?

        public init(spread: Spread = .std, iid: Bool = false, maxClientSamples: Int? = nil) {
            self.spread = spread
            self.iid = iid
            self.maxClientSamples = maxClientSamples
        }
    }

    /// One client's draw of Synthetic(α, β): its size and the parameters its samples come from.
    public struct FedProxClient: Sendable {
        public var size: Int
        /// u_k (the mean of W_k and b_k) and B_k (the mean of v_k).
        public var u: Double, b: Double
        /// W_k, row-major with one row of 60 per class, and b_k.
        public var weights: [Double], bias: [Double]
        /// v_k, the mean of the client's inputs.
        public var inputMean: [Double]
    }

    /// The most values (samples × 60) all FedProx clients together may hold: 2²⁸, 1 GiB of Float32.
    public static let fedProxMaxValues = 1 << 28

    /// Synthetic(α, β) from the FedProx paper (Li et al., MLSys 2020), following its reference
    /// generator `generate_synthetic.py`: α controls how much clients' models differ, β how much
    /// their inputs differ. Per client k: u_k ~ N(0, α²), B_k ~ N(0, β²) (α, β are standard
    /// deviations; `spread: variance` reads them as variances); W_k (10×60) and b_k ~ N(u_k, 1);
    /// v_k[j] ~ N(B_k, 1); x ~ N(v_k, Σ) with Σ = diag((j+1)^-1.2) (a covariance: the standard
    /// deviations are its square roots); y = argmax(W_k x + b_k). Sizes are ⌊lognormal(4, 2)⌋ + 50,
    /// uncapped unless `maxClientSamples` says. Synthetic-IID (`iid`): W and b ~ N(0, 1) shared by
    /// every client, v_k = B_k·1. The reference draws everything from one NumPy stream; here
    /// client k draws from `rng.derive(k)` (the shared W, b from `rng.derive(2³²)`), so adding
    /// clients does not change earlier ones — the distributions are the reference's, the
    /// numbers are FedSim's own. Sizes are drawn first, and a draw of more than 2²⁸ values in
    /// all is refused before anything large is allocated.
    public static func fedProx(
        alpha: Double, beta: Double, clients: Int, options: FedProxOptions = FedProxOptions(), rng: inout SeededRandom
    ) throws -> [Dataset] {
        var total = 0
        for (k, size) in fedProxClientSizes(clients: clients, options: options, rng: rng).enumerated() {
            total += size
            guard total <= fedProxMaxValues / fedProxFeatures else {
                throw DataError(
                    file: "data (fedprox)",
                    message: "client \(k) draws \(size) samples, \(total) in all so far: more than FedSim holds "
                        + "(\(fedProxMaxValues / fedProxFeatures) samples of \(fedProxFeatures) features); "
                        + "cap the clients with data.max_client_samples")
            }
        }
        let drawn = fedProxClients(alpha: alpha, beta: beta, clients: clients, options: options, rng: rng)
        let datasets = drawn.enumerated().map { k, c in
            var clientRNG = rng.derive(UInt64(k), 1)
            return fedProxSamples(c, rng: &clientRNG)
        }
        _ = rng.next()  // derive does not advance; advance so the next call gives new clients
        return datasets
    }

    /// Every client's size alone (the first draw of its stream), to refuse a draw too large
    /// before anything else is drawn.
    public static func fedProxClientSizes(clients: Int, options: FedProxOptions, rng: SeededRandom) -> [Int] {
        (0..<clients).map { k in
            var r = rng.derive(UInt64(k))
            let size = fedProxClientSize(rng: &r)
            return options.maxClientSamples.map { min(size, $0) } ?? size
        }
    }

    /// Every client's size and parameters (no samples yet).
    public static func fedProxClients(
        alpha: Double, beta: Double, clients: Int, options: FedProxOptions, rng: SeededRandom
    ) -> [FedProxClient] {
        precondition(alpha >= 0 && beta >= 0 && clients >= 0, "need alpha, beta, clients ≥ 0")
        let d = fedProxFeatures
        let classes = fedProxClasses
        let alphaStd = options.spread == .std ? alpha : alpha.squareRoot()
        let betaStd = options.spread == .std ? beta : beta.squareRoot()
        var sharedRNG = rng.derive(1 << 32)
        let sharedWeights = options.iid ? (0..<(classes * d)).map { _ in sharedRNG.nextNormal() } : []
        let sharedBias = options.iid ? (0..<classes).map { _ in sharedRNG.nextNormal() } : []
        return (0..<clients).map { k in
            var r = rng.derive(UInt64(k))
            var size = fedProxClientSize(rng: &r)
            if let cap = options.maxClientSamples { size = min(size, cap) }
            let u = r.nextNormal(mean: 0, std: alphaStd)
            let b = r.nextNormal(mean: 0, std: betaStd)
            if options.iid {
                return FedProxClient(
                    size: size, u: u, b: b, weights: sharedWeights, bias: sharedBias,
                    inputMean: [Double](repeating: b, count: d))
            }
            let w = (0..<(classes * d)).map { _ in r.nextNormal(mean: u, std: 1) }
            let bias = (0..<classes).map { _ in r.nextNormal(mean: u, std: 1) }
            let v = (0..<d).map { _ in r.nextNormal(mean: b, std: 1) }
            return FedProxClient(size: size, u: u, b: b, weights: w, bias: bias, inputMean: v)
        }
    }

    /// Samples per FedProx client: ⌊lognormal(4, 2)⌋ + 50 (NumPy's `astype(int)` truncates).
    /// The exponent is kept below 40 so the conversion cannot trap; a draw that large is refused
    /// by the caller's total anyway.
    static func fedProxClientSize(rng: inout SeededRandom) -> Int {
        Int(exp(min(rng.nextNormal(mean: 4, std: 2), 40)).rounded(.down)) + 50
    }

    /// The standard deviations of x's coordinates: √((j+1)^-1.2).
    public static let fedProxInputStd = (0..<fedProxFeatures).map { pow(Double($0 + 1), -1.2).squareRoot() }

    /// A client's samples, drawn from its parameters.
    static func fedProxSamples(_ c: FedProxClient, rng: inout SeededRandom) -> Dataset {
        let d = fedProxFeatures
        var x = [Float]()
        x.reserveCapacity(c.size * d)
        var labels = [Int32]()
        labels.reserveCapacity(c.size)
        var sample = [Double](repeating: 0, count: d)
        for _ in 0..<c.size {
            for j in 0..<d { sample[j] = rng.nextNormal(mean: c.inputMean[j], std: fedProxInputStd[j]) }
            labels.append(Int32(argmaxOfAffine(c.weights, c.bias, sample)))
            x.append(contentsOf: sample.map { Float($0) })
        }
        return Dataset(features: x, featureCount: d, targets: .classes(labels, classCount: fedProxClasses))
    }

    /// The label the reference gives `x` under a client's parameters: argmax(W x + b).
    public static func fedProxLabel(_ c: FedProxClient, _ x: [Double]) -> Int { argmaxOfAffine(c.weights, c.bias, x) }

    /// argmax over rows r of `w[r]·x + bias[r]` (`w` row-major, one row per class).
    static func argmaxOfAffine(_ w: [Double], _ bias: [Double], _ x: [Double]) -> Int {
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
