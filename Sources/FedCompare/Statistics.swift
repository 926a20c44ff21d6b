import Foundation

/// The statistics a comparison reports: Student-t confidence intervals across seeds, and the
/// paired tests of a variant against the baseline (seed by seed, so a seed that is hard for
/// every variant does not hide or fake a difference).
public enum Statistics {
    /// The (1 − α/2) quantile of Student's t with `df` degrees of freedom (bisection on the
    /// exact two-sided tail, to 1e-12).
    public static func tQuantile(twoSidedAlpha alpha: Double, df: Int) -> Double {
        precondition(df >= 1 && alpha > 0 && alpha < 1)
        var lo = 0.0
        var hi = 1.0
        while tTwoSidedP(hi, df: df) > alpha { hi *= 2 }
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if tTwoSidedP(mid, df: df) > alpha { lo = mid } else { hi = mid }
            if hi - lo < 1e-12 * max(1, hi) { break }
        }
        return (lo + hi) / 2
    }

    /// P(|T| ≥ |t|) for Student's t with `df` degrees of freedom: I_{df/(df+t²)}(df/2, 1/2).
    public static func tTwoSidedP(_ t: Double, df: Int) -> Double {
        guard t.isFinite else { return t.isNaN ? .nan : 0 }
        let v = Double(df)
        return regularizedIncompleteBeta(v / (v + t * t), v / 2, 0.5)
    }

    /// The exact two-sided sign test: with `positive` and `negative` non-zero differences (ties
    /// dropped), P(a split at least this uneven | each sign equally likely).
    public static func signTestP(positive: Int, negative: Int) -> Double {
        let n = positive + negative
        guard n > 0 else { return 1 }
        let k = min(positive, negative)
        var tail = 0.0
        for i in 0...k {
            let logChoose: Double = lgamma(Double(n + 1)) - lgamma(Double(i + 1)) - lgamma(Double(n - i + 1))
            tail += exp(logChoose - Double(n) * log(2.0))
        }
        return min(1, 2 * tail)
    }

    /// I_x(a, b), by the continued fraction of Numerical Recipes (modified Lentz), using the
    /// symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges faster.
    static func regularizedIncompleteBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logGammas: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
        let logPowers: Double = a * log(x) + b * log(1 - x)
        let front = exp(logGammas + logPowers)
        if x < (a + 1) / (a + b + 2) { return front * continuedFraction(x, a, b) / a }
        return 1 - front * continuedFraction(1 - x, b, a) / b
    }

    private static func continuedFraction(_ x: Double, _ a: Double, _ b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0
        var d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...500 {
            let m = Double(m)
            var aa = m * (b - m) * x / ((a - 1 + 2 * m) * (a + 2 * m))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            aa = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1 + 2 * m))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-15 { break }
        }
        return h
    }
}

/// A mean across seeds with its 95 % Student-t confidence interval (none for one seed).
public struct Interval: Sendable, Equatable {
    public var mean: Double
    /// Sample standard deviation (0 for one value).
    public var std: Double
    /// Half-width of the 95 % interval: t₀.₉₇₅,ₙ₋₁ · s/√n (nan for fewer than two values).
    public var halfWidth: Double
    public var count: Int

    /// Non-finite values (a metric a run does not have) are left out.
    public init(_ values: [Double]) {
        let finite = values.filter(\.isFinite)
        count = finite.count
        mean = finite.isEmpty ? .nan : finite.reduce(0, +) / Double(finite.count)
        let m = mean
        std =
            finite.count < 2
            ? 0 : (finite.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(finite.count - 1)).squareRoot()
        halfWidth =
            finite.count < 2
            ? .nan
            : Statistics.tQuantile(twoSidedAlpha: 0.05, df: finite.count - 1) * std / Double(finite.count).squareRoot()
    }

    public var low: Double { mean - halfWidth }
    public var high: Double { mean + halfWidth }

    /// "0.9512 ± 0.0041" (mean ± the 95 % half-width), or the mean alone for one seed.
    public var text: String {
        if mean.isNaN { return "" }
        return halfWidth.isNaN ? String(format: "%.4f", mean) : String(format: "%.4f ± %.4f", mean, halfWidth)
    }
}

/// A variant against the baseline on the seeds both ran: the per-seed differences
/// (variant − baseline), their mean with a 95 % interval, the paired t-test's and the sign
/// test's two-sided p-values.
public struct PairedComparison: Sendable, Equatable {
    public var seeds: Int
    public var difference: Interval
    public var pairedTP: Double
    public var signTestP: Double

    public init(variant: [Int: Double], baseline: [Int: Double]) {
        let common = variant.keys.filter { baseline[$0] != nil && variant[$0]!.isFinite && baseline[$0]!.isFinite }
        let differences = common.sorted().map { variant[$0]! - baseline[$0]! }
        seeds = differences.count
        difference = Interval(differences)
        if seeds < 2 {
            pairedTP = .nan
        } else if difference.std == 0 {
            pairedTP = difference.mean == 0 ? 1 : 0
        } else {
            let t = difference.mean / (difference.std / Double(seeds).squareRoot())
            pairedTP = Statistics.tTwoSidedP(t, df: seeds - 1)
        }
        signTestP = Statistics.signTestP(
            positive: differences.filter { $0 > 0 }.count, negative: differences.filter { $0 < 0 }.count)
    }

    /// Whether the paired t-test rejects "no difference" at the 5 % level.
    public var significant: Bool { pairedTP < 0.05 }
}
