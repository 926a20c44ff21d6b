import Foundation

/// How training samples are divided among clients. Non-IID schemes are the normal case in
/// federated learning; these are the standard ones from the literature.
public enum PartitionScheme: Sendable, Equatable {
    /// Shuffled, near-equal contiguous chunks.
    case iid
    /// Label skew (Hsu et al. 2019): each class is spread over clients by Dirichlet(α)
    /// proportions; small α gives clients few classes, large α approaches IID.
    case dirichlet(alpha: Double)
    /// Label shards (McMahan et al. 2017, FedAvg): samples sorted by label, cut into
    /// `clients × classesPerClient` equal shards, each client getting that many random shards.
    case shards(classesPerClient: Int)
    /// Quantity skew: client sizes ∝ Dirichlet(α) proportions (each ≥ 1), labels IID.
    case quantity(alpha: Double)
}

/// Which training-set indices each client holds: every index appears exactly once, and each
/// client's list is sorted ascending (so a client's data does not depend on shuffle order).
public struct Partition: Sendable, Equatable {
    public var clients: [[Int]]

    public init(clients: [[Int]]) {
        self.clients = clients
    }

    /// A compact report: one line per client (the first `limit`) with its size and class
    /// histogram, then min/median/max client size and mean classes per client — enough to see
    /// at a glance how skewed a partition is.
    public func summary(labels: [Int32]?, classCount: Int, limit: Int = 8) -> String {
        let histograms = clients.map { indices in Self.histogram(indices, labels: labels) }
        var lines = [String]()
        for (client, indices) in clients.enumerated().prefix(max(limit, 0)) {
            var line = "client \(client): \(indices.count) samples"
            let classes = histograms[client].map { "\($0.key):\($0.value)" }.joined(separator: " ")
            if !classes.isEmpty { line += ", classes \(classes)" }
            lines.append(line)
        }
        if clients.count > limit { lines.append("… and \(clients.count - max(limit, 0)) more") }
        lines.append(statisticsLine(histograms: labels == nil ? nil : histograms, classCount: classCount))
        return lines.joined(separator: "\n")
    }

    /// (class, count) pairs with count > 0, sorted by class.
    private static func histogram(_ indices: [Int], labels: [Int32]?) -> [(key: Int32, value: Int)] {
        guard let labels else { return [] }
        var counts = [Int32: Int]()
        for i in indices where labels.indices.contains(i) { counts[labels[i], default: 0] += 1 }
        return counts.sorted { $0.key < $1.key }
    }

    private func statisticsLine(histograms: [[(key: Int32, value: Int)]]?, classCount: Int) -> String {
        let sizes = clients.map(\.count).sorted()
        guard let smallest = sizes.first, let largest = sizes.last else { return "no clients" }
        let middle = sizes.count / 2
        let median = sizes.count % 2 == 1 ? Double(sizes[middle]) : Double(sizes[middle - 1] + sizes[middle]) / 2
        let medianText = median == median.rounded() ? String(Int(median)) : String(format: "%.1f", median)
        var line = "\(clients.count) clients; samples per client min \(smallest), median \(medianText), max \(largest)"
        if let histograms {
            let meanClasses = Double(histograms.map(\.count).reduce(0, +)) / Double(clients.count)
            line += String(format: "; mean classes per client %.2f of %d", meanClasses, classCount)
        }
        return line
    }
}
