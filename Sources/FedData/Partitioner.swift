import FedCore

/// Divides a training set among clients according to a `PartitionScheme`. Deterministic for a
/// generator state; invalid requests throw a `DataError` with file "partition".
public enum Partitioner {
    public static func split(
        _ data: Dataset, clients: Int, scheme: PartitionScheme, rng: inout SeededRandom
    ) throws -> Partition {
        guard clients >= 1 else { throw failure("clients must be at least 1, got \(clients)") }
        guard clients <= data.count else {
            throw failure("cannot give \(clients) clients at least one sample each from \(data.count) samples")
        }
        var assignment: [[Int]]
        switch scheme {
        case .iid:
            assignment = iid(count: data.count, clients: clients, rng: &rng)
        case .dirichlet(let alpha):
            try checkConcentration(alpha)
            assignment = dirichlet(
                byClass: try samplesByClass(data, scheme: "dirichlet"), alpha: alpha, clients: clients, rng: &rng)
        case .shards(let classesPerClient):
            assignment = try shards(data, classesPerClient: classesPerClient, clients: clients, rng: &rng)
        case .quantity(let alpha):
            try checkConcentration(alpha)
            assignment = quantity(count: data.count, alpha: alpha, clients: clients, rng: &rng)
        }
        return Partition(clients: assignment.map { $0.sorted() })
    }

    static func failure(_ message: String) -> DataError { DataError(file: "partition", message: message) }

    private static func checkConcentration(_ alpha: Double) throws {
        guard alpha > 0, alpha.isFinite else { throw failure("alpha must be a positive number, got \(alpha)") }
    }

    // MARK: - Schemes

    private static func iid(count: Int, clients: Int, rng: inout SeededRandom) -> [[Int]] {
        var order = Array(0..<count)
        rng.shuffle(&order)
        return chunks(order, sizes: nearEqualSizes(total: count, parts: clients))
    }

    /// For each class, Dirichlet(α) proportions over clients cut that class's shuffled samples;
    /// then empty clients are filled one sample at a time from the largest.
    private static func dirichlet(byClass: [[Int]], alpha: Double, clients: Int, rng: inout SeededRandom) -> [[Int]] {
        var assignment = [[Int]](repeating: [], count: clients)
        for var members in byClass where !members.isEmpty {
            rng.shuffle(&members)
            let proportions = rng.nextDirichlet(alpha: alpha, count: clients)
            let pieces = chunks(members, sizes: cumulativeSizes(total: members.count, proportions: proportions))
            for client in 0..<clients { assignment[client].append(contentsOf: pieces[client]) }
        }
        fillEmptyClients(&assignment)
        return assignment
    }

    /// Sorted by label (stably), cut into `clients·k` near-equal shards, `k` random shards per
    /// client. A client spans more than k classes only where a shard straddles a class boundary.
    private static func shards(
        _ data: Dataset, classesPerClient k: Int, clients: Int, rng: inout SeededRandom
    ) throws -> [[Int]] {
        guard k >= 1 else { throw failure("shards need classesPerClient ≥ 1, got \(k)") }
        // Stable: ascending index within a class.
        let byLabel = try samplesByClass(data, scheme: "shards").flatMap { $0 }
        let (shardCount, overflow) = clients.multipliedReportingOverflow(by: k)
        guard !overflow, shardCount <= data.count else {
            throw failure(
                "\(clients) clients × \(k) shards needs at least \(overflow ? "more" : String(shardCount)) samples, "
                    + "have \(data.count)"
            )
        }
        let shardList = chunks(byLabel, sizes: nearEqualSizes(total: byLabel.count, parts: shardCount))
        var shardOrder = Array(0..<shardCount)
        rng.shuffle(&shardOrder)
        return (0..<clients).map { client in
            shardOrder[(client * k)..<((client + 1) * k)].flatMap { shardList[$0] }
        }
    }

    /// Client sizes: one sample each, the rest split by Dirichlet(α) proportions; samples shuffled.
    private static func quantity(count: Int, alpha: Double, clients: Int, rng: inout SeededRandom) -> [[Int]] {
        var order = Array(0..<count)
        rng.shuffle(&order)
        let proportions = rng.nextDirichlet(alpha: alpha, count: clients)
        let extra = largestRemainderSizes(total: count - clients, proportions: proportions)
        return chunks(order, sizes: extra.map { $0 + 1 })
    }

    // MARK: - Helpers

    /// Sample indices grouped by class (ascending within each class); throws for regression
    /// data or labels outside `0..<classCount`.
    private static func samplesByClass(_ data: Dataset, scheme: String) throws -> [[Int]] {
        guard let labels = data.labels else { throw failure("\(scheme) partitioning needs classification data") }
        var byClass = [[Int]](repeating: [], count: data.classCount)
        for (i, label) in labels.enumerated() {
            guard label >= 0, Int(label) < data.classCount else {
                throw failure("sample \(i) has label \(label) outside 0..<\(data.classCount)")
            }
            byClass[Int(label)].append(i)
        }
        return byClass
    }

    /// Consecutive pieces of `items` with the given sizes (which sum to `items.count`).
    static func chunks(_ items: [Int], sizes: [Int]) -> [[Int]] {
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return Array(items[start..<(start + size)])
        }
    }

    /// `parts` sizes summing to `total`, differing by at most one (larger ones first).
    static func nearEqualSizes(total: Int, parts: Int) -> [Int] {
        (0..<parts).map { total / parts + ($0 < total % parts ? 1 : 0) }
    }

    /// Sizes from cut points `round(total · cumulative proportion)`, the last cut at `total`.
    static func cumulativeSizes(total: Int, proportions: [Double]) -> [Int] {
        var cumulative = 0.0
        var previousCut = 0
        return proportions.indices.map { i in
            cumulative += proportions[i]
            let cut = i == proportions.count - 1 ? total : min(total, Int((cumulative * Double(total)).rounded()))
            defer { previousCut = max(previousCut, cut) }
            return max(cut - previousCut, 0)
        }
    }

    /// Sizes ∝ `proportions` summing exactly to `total`: floors, then the leftover units to the
    /// largest fractional parts (ties to the lower index).
    static func largestRemainderSizes(total: Int, proportions: [Double]) -> [Int] {
        let exact = proportions.map { $0 * Double(total) }
        var sizes = exact.map { Int($0.rounded(.down)) }
        let leftover = total - sizes.reduce(0, +)
        let byRemainder = exact.indices.sorted { a, b in
            let ra = exact[a] - Double(sizes[a])
            let rb = exact[b] - Double(sizes[b])
            return ra != rb ? ra > rb : a < b
        }
        for i in byRemainder.prefix(max(leftover, 0)) { sizes[i] += 1 }
        // Proportions may sum to 1 + ε; never hand out more than `total`.
        var excess = sizes.reduce(0, +) - total
        while excess > 0, let largest = sizes.indices.max(by: { sizes[$0] < sizes[$1] }) {
            sizes[largest] -= 1
            excess -= 1
        }
        return sizes
    }

    /// Gives every empty client one sample taken from the currently largest client (lowest index
    /// on ties). Always possible when there are at least as many samples as clients.
    static func fillEmptyClients(_ assignment: inout [[Int]]) {
        for client in assignment.indices where assignment[client].isEmpty {
            guard let donor = assignment.indices.max(by: { (assignment[$0].count, $1) < (assignment[$1].count, $0) }),
                assignment[donor].count > 1
            else { return }
            assignment[client].append(assignment[donor].removeLast())
        }
    }
}
