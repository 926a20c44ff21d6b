import FedCore
import FedData
import XCTest

final class SyntheticTests: XCTestCase {
    func testLinearRegressionShapeAndNoiseFreeTargets() {
        var rng = SeededRandom(seed: 1)
        let (data, weights, bias) = Synthetic.linearRegression(count: 50, features: 4, noise: 0, bias: 0.5, rng: &rng)
        XCTAssertEqual(data.count, 50)
        XCTAssertEqual(data.featureCount, 4)
        XCTAssertEqual(weights.count, 4)
        XCTAssertEqual(bias, 0.5)
        guard case .values(let y) = data.targets else { return XCTFail("expected regression targets") }
        for i in 0..<data.count {
            let x = data.features[(i * 4)..<(i * 4 + 4)]
            let expected = zip(weights, x).reduce(bias) { $0 + $1.0 * $1.1 }
            XCTAssertEqual(y[i], expected, accuracy: 1e-5)
        }
    }

    func testGeneratorsAreDeterministicPerSeed() {
        func regression(_ seed: UInt64) -> Dataset {
            var rng = SeededRandom(seed: seed)
            return Synthetic.linearRegression(count: 20, features: 3, noise: 0.1, bias: 0, rng: &rng).data
        }
        func blobs(_ seed: UInt64) -> Dataset {
            var rng = SeededRandom(seed: seed)
            return Synthetic.blobs(count: 30, features: 2, classes: 3, spread: 0.5, rng: &rng)
        }
        func fedProx(_ seed: UInt64) -> [Dataset] {
            var rng = SeededRandom(seed: seed)
            return Synthetic.fedProx(alpha: 1, beta: 1, clients: 3, rng: &rng)
        }
        XCTAssertEqual(regression(7), regression(7))
        XCTAssertNotEqual(regression(7), regression(8))
        XCTAssertEqual(blobs(7), blobs(7))
        XCTAssertNotEqual(blobs(7), blobs(8))
        XCTAssertEqual(fedProx(7), fedProx(7))
        XCTAssertNotEqual(fedProx(7), fedProx(8))
    }

    func testBlobsAreBalancedAndClustered() {
        var rng = SeededRandom(seed: 2)
        let data = Synthetic.blobs(count: 31, features: 5, classes: 3, spread: 0.01, rng: &rng)
        XCTAssertEqual(data.count, 31)
        XCTAssertEqual(data.featureCount, 5)
        XCTAssertEqual(data.classCount, 3)
        XCTAssertEqual(classHistogram(data.labels ?? [], classCount: 3), [11, 10, 10])
        // With a tiny spread, samples of one class nearly coincide.
        let first = Array(data.features[0..<5])
        let fourth = Array(data.features[15..<20])  // samples 0 and 3: class 0
        for (a, b) in zip(first, fourth) { XCTAssertEqual(a, b, accuracy: 0.1) }
    }

    func testFedProxShapesSizesAndHeterogeneity() {
        var rng = SeededRandom(seed: 42)
        let clients = Synthetic.fedProx(alpha: 1, beta: 1, clients: 12, rng: &rng)
        XCTAssertEqual(clients.count, 12)
        var histograms = [[Double]]()
        for client in clients {
            XCTAssertEqual(client.featureCount, 60)
            XCTAssertEqual(client.classCount, 10)
            XCTAssertTrue((50...1000).contains(client.count), "\(client.count)")
            let counts = classHistogram(client.labels ?? [], classCount: 10)
            histograms.append(counts.map { Double($0) / Double(client.count) })
        }
        XCTAssertGreaterThan(Set(clients.map(\.count)).count, 1, "client sizes should vary")
        // Total-variation distance between label distributions: clients should differ a lot.
        var largestDistance = 0.0
        for a in histograms.indices {
            for b in histograms.indices where b > a {
                largestDistance = max(
                    largestDistance, 0.5 * zip(histograms[a], histograms[b]).map { abs($0 - $1) }.reduce(0, +))
            }
        }
        XCTAssertGreaterThan(largestDistance, 0.5)
        let majorities = Set(
            clients.map { client in
                classHistogram(client.labels ?? [], classCount: 10).enumerated().max { $0.element < $1.element }?.offset
            })
        XCTAssertGreaterThan(majorities.count, 1, "clients should not all share one majority class")
    }

    func testFedProxFeatureVarianceDecaysWithIndex() {
        var rng = SeededRandom(seed: 5)
        let client = Synthetic.fedProx(alpha: 0, beta: 0, clients: 1, rng: &rng)[0]
        func variance(_ j: Int) -> Double {
            let column = (0..<client.count).map { Double(client.features[$0 * 60 + j]) }
            let mean = column.reduce(0, +) / Double(column.count)
            return column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(column.count)
        }
        XCTAssertGreaterThan(variance(0), variance(59) * 10)  // Σ_00 = 1, Σ_59,59 = 60^-1.2 ≈ 0.007
    }
}
