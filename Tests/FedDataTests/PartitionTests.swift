import FedCore
import FedData
import XCTest

final class PartitionTests: XCTestCase {
    /// `perClass` samples of each of `classes` classes, interleaved.
    private func balanced(classes: Int, perClass: Int) -> Dataset {
        let n = classes * perClass
        let labels = (0..<n).map { Int32($0 % classes) }
        return Dataset(
            features: (0..<n).map { Float($0) }, featureCount: 1, targets: .classes(labels, classCount: classes))
    }

    private func split(_ data: Dataset, _ clients: Int, _ scheme: PartitionScheme, seed: UInt64 = 1) throws -> Partition
    {
        var rng = SeededRandom(seed: seed)
        return try Partitioner.split(data, clients: clients, scheme: scheme, rng: &rng)
    }

    private func meanClassesPerClient(_ partition: Partition, _ data: Dataset) -> Double {
        let labels = data.labels ?? []
        let counts = partition.clients.map { Set($0.map { labels[$0] }).count }
        return Double(counts.reduce(0, +)) / Double(counts.count)
    }

    func testEverySchemeUsesEveryIndexOnceSortedAndDeterministically() throws {
        let data = balanced(classes: 10, perClass: 30)
        let schemes: [PartitionScheme] = [
            .iid, .dirichlet(alpha: 0.05), .dirichlet(alpha: 1), .shards(classesPerClient: 2), .quantity(alpha: 0.3),
        ]
        for scheme in schemes {
            let partition = try split(data, 15, scheme)
            XCTAssertEqual(partition.clients.count, 15, "\(scheme)")
            XCTAssertEqual(partition.clients.flatMap { $0 }.sorted(), Array(0..<300), "\(scheme)")
            XCTAssertTrue(partition.clients.allSatisfy { !$0.isEmpty && $0 == $0.sorted() }, "\(scheme)")
            XCTAssertEqual(try split(data, 15, scheme), partition, "\(scheme) is deterministic")
            XCTAssertNotEqual(try split(data, 15, scheme, seed: 2), partition, "\(scheme) depends on the seed")
        }
    }

    func testIIDGivesNearEqualSizes() throws {
        let partition = try split(balanced(classes: 3, perClass: 34), 5, .iid)
        XCTAssertEqual(partition.clients.map(\.count), [21, 21, 20, 20, 20])
    }

    func testDirichletSkewGrowsAsAlphaShrinks() throws {
        let data = balanced(classes: 10, perClass: 100)
        let skewed = meanClassesPerClient(try split(data, 20, .dirichlet(alpha: 0.05)), data)
        let mixed = meanClassesPerClient(try split(data, 20, .dirichlet(alpha: 100)), data)
        XCTAssertLessThan(skewed, 3)
        XCTAssertGreaterThan(mixed, 9.5)
    }

    func testDirichletGivesEveryClientASampleEvenWhenSamplesAreScarce() throws {
        let data = balanced(classes: 2, perClass: 10)
        for seed in UInt64(0)..<20 {
            let partition = try split(data, 20, .dirichlet(alpha: 0.01), seed: seed)
            XCTAssertEqual(partition.clients.map(\.count), [Int](repeating: 1, count: 20))
        }
    }

    func testShardsGiveAtMostTwoClassesPerClient() throws {
        let data = balanced(classes: 10, perClass: 20)
        let partition = try split(data, 10, .shards(classesPerClient: 2))
        let labels = data.labels ?? []
        for client in partition.clients {
            XCTAssertEqual(client.count, 20)
            XCTAssertLessThanOrEqual(Set(client.map { labels[$0] }).count, 2)
        }
    }

    func testQuantitySkewGivesUnequalSizesWithMixedLabels() throws {
        let data = balanced(classes: 4, perClass: 250)
        let partition = try split(data, 10, .quantity(alpha: 0.5))
        let sizes = partition.clients.map(\.count)
        XCTAssertGreaterThan(sizes.max() ?? 0, 3 * (sizes.min() ?? 0))
        XCTAssertTrue(sizes.allSatisfy { $0 >= 1 })
        let largest = partition.clients.max { $0.count < $1.count } ?? []
        XCTAssertEqual(Set(largest.map { data.labels?[$0] ?? -1 }).count, 4, "labels stay IID within a client")
    }

    func testInvalidRequestsThrowPartitionErrors() {
        let data = balanced(classes: 2, perClass: 5)
        let regression = Dataset(features: [1, 2, 3], featureCount: 1, targets: .values([1, 2, 3]))
        let badLabel = Dataset(features: [1, 2], featureCount: 1, targets: .classes([0, 5], classCount: 2))
        let cases: [(Dataset, Int, PartitionScheme, String)] = [
            (data, 0, .iid, "clients must be at least 1"),
            (data, 11, .iid, "cannot give 11 clients"),
            (data, 2, .dirichlet(alpha: 0), "alpha must be a positive number"),
            (data, 2, .quantity(alpha: -1), "alpha must be a positive number"),
            (data, 2, .shards(classesPerClient: 0), "classesPerClient ≥ 1"),
            (data, 4, .shards(classesPerClient: 3), "needs at least 12 samples"),
            (regression, 2, .dirichlet(alpha: 1), "needs classification data"),
            (regression, 2, .shards(classesPerClient: 1), "needs classification data"),
            (badLabel, 2, .dirichlet(alpha: 1), "label 5 outside 0..<2"),
        ]
        for (dataset, clients, scheme, fragment) in cases {
            var rng = SeededRandom(seed: 0)
            XCTAssertThrowsError(try Partitioner.split(dataset, clients: clients, scheme: scheme, rng: &rng)) { error in
                let description = (error as? DataError)?.description ?? "\(error)"
                XCTAssertTrue(description.hasPrefix("partition: "), description)
                XCTAssertTrue(description.contains(fragment), "\(description) lacks \(fragment)")
            }
        }
        var rng = SeededRandom(seed: 0)
        XCTAssertNoThrow(try Partitioner.split(regression, clients: 3, scheme: .quantity(alpha: 1), rng: &rng))
    }

    func testSummaryText() {
        let labels: [Int32] = [0, 4, 4, 7, 1, 1, 2]
        let partition = Partition(clients: [[0, 1, 2, 3], [4, 5], [6]])
        XCTAssertEqual(
            partition.summary(labels: labels, classCount: 8),
            """
            client 0: 4 samples, classes 0:1 4:2 7:1
            client 1: 2 samples, classes 1:2
            client 2: 1 samples, classes 2:1
            3 clients; samples per client min 1, median 2, max 4; mean classes per client 1.67 of 8
            """)
        let limited = partition.summary(labels: nil, classCount: 0, limit: 1)
        XCTAssertEqual(
            limited,
            """
            client 0: 4 samples
            … and 2 more
            3 clients; samples per client min 1, median 2, max 4
            """)
        XCTAssertTrue(Partition(clients: [[0], [1, 2]]).summary(labels: nil, classCount: 0).contains("median 1.5"))
    }
}
