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
            return try! Synthetic.fedProx(alpha: 1, beta: 1, clients: 3, rng: &rng)
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

    func testFedProxShapesSizesAndHeterogeneity() throws {
        var rng = SeededRandom(seed: 42)
        let clients = try Synthetic.fedProx(alpha: 1, beta: 1, clients: 12, rng: &rng)
        XCTAssertEqual(clients.count, 12)
        var histograms = [[Double]]()
        for client in clients {
            XCTAssertEqual(client.featureCount, 60)
            XCTAssertEqual(client.classCount, 10)
            XCTAssertGreaterThanOrEqual(client.count, 50)
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

    func testFedProxFeatureVarianceDecaysWithIndex() throws {
        var rng = SeededRandom(seed: 5)
        let client = try Synthetic.fedProx(alpha: 0, beta: 0, clients: 1, rng: &rng)[0]
        func variance(_ j: Int) -> Double {
            let column = (0..<client.count).map { Double(client.features[$0 * 60 + j]) }
            let mean = column.reduce(0, +) / Double(column.count)
            return column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(column.count)
        }
        XCTAssertGreaterThan(variance(0), variance(59) * 10)  // Σ_00 = 1, Σ_59,59 = 60^-1.2 ≈ 0.007
    }

    /// The reference `generate_synthetic.py` draws u_k ~ N(0, α) and B_k ~ N(0, β) with NumPy's
    /// `normal(loc, scale)`: α and β are standard deviations. Over 4,000 clients the sample
    /// standard deviations of u_k and B_k must be α and β (the earlier variance reading gave √α, √β).
    func testAlphaAndBetaAreStandardDeviationsAsInTheReference() {
        func std(_ x: [Double]) -> Double {
            let m = x.reduce(0, +) / Double(x.count)
            return (x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(x.count - 1)).squareRoot()
        }
        let rng = SeededRandom(seed: 11)
        let drawn = Synthetic.fedProxClients(
            alpha: 0.5, beta: 2, clients: 4000, options: Synthetic.FedProxOptions(), rng: rng)
        XCTAssertEqual(std(drawn.map(\.u)), 0.5, accuracy: 0.03)
        XCTAssertEqual(std(drawn.map(\.b)), 2, accuracy: 0.1)
        let variance = Synthetic.fedProxClients(
            alpha: 0.5, beta: 2, clients: 4000, options: Synthetic.FedProxOptions(spread: .variance), rng: rng)
        XCTAssertEqual(std(variance.map(\.u)), 0.5.squareRoot(), accuracy: 0.04)
        XCTAssertEqual(std(variance.map(\.b)), 2.0.squareRoot(), accuracy: 0.08)
        // W_k, b_k ~ N(u_k, 1) and v_k ~ N(B_k, 1), per client.
        let c = drawn[0]
        let meanW = c.weights.reduce(0, +) / Double(c.weights.count)
        XCTAssertEqual(meanW, c.u, accuracy: 4 / Double(c.weights.count).squareRoot())
        XCTAssertEqual(std(c.weights), 1, accuracy: 0.12)
        XCTAssertEqual(c.inputMean.reduce(0, +) / 60, c.b, accuracy: 4 / 60.0.squareRoot())
    }

    /// Sizes are ⌊lognormal(4, 2)⌋ + 50 without a cap (the reference's `astype(int) + 50`):
    /// the median of size − 50 is e⁴ ≈ 54.6, and among 4,000 clients some exceed 1,000 (the old
    /// cap); `max_client_samples` caps them.
    func testClientSizesFollowTheReferenceLognormalWithoutACap() {
        let rng = SeededRandom(seed: 3)
        let sizes = Synthetic.fedProxClientSizes(clients: 4000, options: Synthetic.FedProxOptions(), rng: rng)
        XCTAssertGreaterThanOrEqual(sizes.min()!, 50)
        let median = sizes.map { $0 - 50 }.sorted()[2000]
        XCTAssertTrue((45...66).contains(median), "median \(median)")
        XCTAssertGreaterThan(sizes.filter { $0 > 1000 }.count, 100, "P(size > 1000) ≈ 7.6 %")
        let capped = Synthetic.fedProxClientSizes(
            clients: 4000, options: Synthetic.FedProxOptions(maxClientSamples: 1000), rng: rng)
        XCTAssertEqual(capped.max(), 1000)
        XCTAssertEqual(zip(sizes, capped).filter { $0 != $1 }.count, sizes.filter { $0 > 1000 }.count)
        let drawn = Synthetic.fedProxClients(
            alpha: 1, beta: 1, clients: 50, options: Synthetic.FedProxOptions(), rng: rng)
        XCTAssertEqual(drawn.map(\.size), Array(sizes.prefix(50)), "sizes alone are the sizes of the full draw")
    }

    /// Labels are argmax(W_k x + b_k) of the client's own parameters, and x's coordinates have
    /// variances (j+1)^-1.2 around v_k (Σ is a covariance).
    func testSamplesFollowTheReferenceEquations() throws {
        var rng = SeededRandom(seed: 9)
        let options = Synthetic.FedProxOptions(maxClientSamples: 3000)
        let drawn = Synthetic.fedProxClients(alpha: 1, beta: 1, clients: 4, options: options, rng: rng)
        let data = try Synthetic.fedProx(alpha: 1, beta: 1, clients: 4, options: options, rng: &rng)
        for (c, d) in zip(drawn, data) {
            XCTAssertEqual(d.count, c.size)
            var agree = 0
            for i in 0..<d.count {
                let x = (0..<60).map { Double(d.features[i * 60 + $0]) }
                if Synthetic.fedProxLabel(c, x) == Int(d.labels![i]) { agree += 1 }
            }
            XCTAssertGreaterThanOrEqual(Double(agree), 0.995 * Double(d.count), "labels are argmax(W x + b)")
        }
        let big = try XCTUnwrap(zip(drawn, data).max { $0.0.size < $1.0.size })
        XCTAssertGreaterThan(big.0.size, 200)
        for j in [0, 9, 59] {
            let column = (0..<big.1.count).map { Double(big.1.features[$0 * 60 + j]) - big.0.inputMean[j] }
            let variance = column.map { $0 * $0 }.reduce(0, +) / Double(column.count)
            let expected = pow(Double(j + 1), -1.2)
            XCTAssertEqual(
                variance, expected, accuracy: expected * 5 / Double(column.count).squareRoot() + 1e-9, "\(j)")
        }
    }

    /// Synthetic-IID: every client shares one W and b, and its inputs are centred on B_k·1.
    func testSyntheticIIDSharesOneModel() throws {
        let rng = SeededRandom(seed: 4)
        let options = Synthetic.FedProxOptions(iid: true)
        let drawn = Synthetic.fedProxClients(alpha: 0, beta: 0.5, clients: 5, options: options, rng: rng)
        for c in drawn.dropFirst() {
            XCTAssertEqual(c.weights, drawn[0].weights)
            XCTAssertEqual(c.bias, drawn[0].bias)
            XCTAssertEqual(c.inputMean, [Double](repeating: c.b, count: 60))
        }
        XCTAssertEqual(drawn[0].weights.count, 600)
        XCTAssertNotEqual(drawn[0].b, drawn[1].b)
    }

    /// A draw too large to hold is refused before the samples are drawn, naming the cap to set.
    func testADrawTooLargeIsRefusedNamingTheCap() {
        var rng = SeededRandom(seed: 1)
        XCTAssertThrowsError(try Synthetic.fedProx(alpha: 1, beta: 1, clients: 30_000, rng: &rng)) {
            XCTAssertTrue("\($0)".contains("data.max_client_samples"), "\($0)")
        }
    }
}
