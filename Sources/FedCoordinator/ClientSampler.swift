import FedClient
import FedCore

/// Seeded client selection: the sample of round r depends only on (seed, r), so a resumed or
/// distributed run selects exactly the same clients.
public struct ClientSampler: Sendable, Equatable {
    public let seed: UInt64
    public let clientCount: Int
    public let perRound: Int

    public init(seed: UInt64, clientCount: Int, perRound: Int) {
        precondition(clientCount > 0 && (1...clientCount).contains(perRound))
        self.seed = seed
        self.clientCount = clientCount
        self.perRound = perRound
    }

    /// The participants of round `round` (1-based), in increasing id order.
    public func sample(round: Int) -> [Int] {
        if perRound == clientCount { return Array(0..<clientCount) }
        var rng = SeededRandom(seed: seed).derive(SeedStream.sampling.rawValue, UInt64(round))
        var ids = Array(0..<clientCount)
        for i in 0..<perRound {  // partial Fisher–Yates
            let j = i + rng.nextInt(below: clientCount - i)
            ids.swapAt(i, j)
        }
        return ids[0..<perRound].sorted()
    }
}
