import FedClient
import FedCore
import Foundation

/// Seeded client selection: the sample of round r depends only on (seed, r), so a resumed or
/// distributed run selects exactly the same clients. Uniform without replacement, or — with
/// `weights` — without replacement with probabilities proportional to the weights (the
/// clients' sample counts under `clients.sampling: by_samples`).
public struct ClientSampler: Sendable, Equatable {
    public let seed: UInt64
    public let clientCount: Int
    public let perRound: Int
    /// Each client's sampling weight (nil: uniform).
    public let weights: [Double]?

    public init(seed: UInt64, clientCount: Int, perRound: Int, weights: [Double]? = nil) {
        precondition(clientCount > 0 && (1...clientCount).contains(perRound))
        precondition(weights.map { $0.count == clientCount && $0.allSatisfy { $0 > 0 } } ?? true)
        self.seed = seed
        self.clientCount = clientCount
        self.perRound = perRound
        self.weights = weights
    }

    /// The participants of round `round` (1-based), in increasing id order.
    public func sample(round: Int) -> [Int] { sample(round: round, count: perRound) }

    /// `count` participants of round `round` drawn from `candidates` (ascending ids; nil: every
    /// client), in increasing id order. The virtual clock draws more than `perRound`
    /// (over-commitment) or only among the clients online (availability-aware sampling).
    public func sample(round: Int, count: Int, among candidates: [Int]? = nil) -> [Int] {
        // One array, uniquely owned when drawn among all clients: a second binding of it would make
        // the shuffle below copy it (8 MB a round at a million clients).
        var ids = candidates ?? Array(0..<clientCount)
        precondition((0...ids.count).contains(count))
        if count == ids.count { return ids }
        var rng = SeededRandom(seed: seed).derive(SeedStream.sampling.rawValue, UInt64(round))
        if let weights {
            // Efraimidis–Spirakis: the `count` largest keys log(u)/w are a weighted sample
            // without replacement (key u^(1/w), in logs so tiny weights cannot underflow).
            var keyed = ids.map { i -> (key: Double, id: Int) in
                let u = max(rng.nextUniform(), Double.leastNonzeroMagnitude)
                return (log(u) / weights[i], i)
            }
            keyed.sort { $0.key != $1.key ? $0.key > $1.key : $0.id < $1.id }
            return keyed.prefix(count).map(\.id).sorted()
        }
        let n = ids.count
        for i in 0..<count {  // partial Fisher–Yates
            let j = i + rng.nextInt(below: n - i)
            ids.swapAt(i, j)
        }
        return ids[0..<count].sorted()
    }
}
