import FedCore
import FedData
import Foundation
import XCTest

final class StandardizerSplitTests: XCTestCase {
    func testStandardizerGivesZeroMeanUnitStdAndHandlesConstantFeatures() throws {
        var rng = SeededRandom(seed: 3)
        var data = Synthetic.blobs(count: 200, features: 3, classes: 2, spread: 4, rng: &rng)
        for i in 0..<data.count { data.features[i * 3 + 2] = 7 }  // constant feature
        let standardizer = Standardizer(fitting: data)
        XCTAssertEqual(standardizer.scale[2], 1)
        standardizer.apply(to: &data)
        for j in 0..<2 {
            let column = (0..<data.count).map { Double(data.features[$0 * 3 + j]) }
            let mean = column.reduce(0, +) / Double(column.count)
            let std = (column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(column.count)).squareRoot()
            XCTAssertEqual(mean, 0, accuracy: 1e-5)
            XCTAssertEqual(std, 1, accuracy: 1e-4)
        }
        XCTAssertTrue((0..<data.count).allSatisfy { data.features[$0 * 3 + 2] == 0 })
        let decoded = try JSONDecoder().decode(Standardizer.self, from: JSONEncoder().encode(standardizer))
        XCTAssertEqual(decoded, standardizer)
    }

    func testClassificationSplitIsStratifiedAndDeterministic() {
        // Imbalanced: 80 of class 0, 15 of class 1, 5 of class 2.
        let labels =
            [Int32](repeating: 0, count: 80) + [Int32](repeating: 1, count: 15) + [Int32](repeating: 2, count: 5)
        let data = Dataset(
            features: (0..<100).map { Float($0) }, featureCount: 1, targets: .classes(labels, classCount: 3))
        var rng = SeededRandom(seed: 11)
        let (train, test) = trainTestSplit(data, testFraction: 0.2, rng: &rng)
        XCTAssertEqual(classHistogram(test.labels ?? [], classCount: 3), [16, 3, 1])
        XCTAssertEqual(classHistogram(train.labels ?? [], classCount: 3), [64, 12, 4])
        XCTAssertEqual(
            Set(Array(train.features) + Array(test.features)), Set(data.features), "every sample in exactly one side")
        XCTAssertEqual(train.count + test.count, 100)
        var again = SeededRandom(seed: 11)
        let (train2, test2) = trainTestSplit(data, testFraction: 0.2, rng: &again)
        XCTAssertEqual(train, train2)
        XCTAssertEqual(test, test2)
        XCTAssertNotEqual(Array(test.features), test.features.sorted(), "test set comes out shuffled")
    }

    func testTinyClassStillAppearsInTestSet() {
        let labels: [Int32] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]
        let data = Dataset(
            features: (0..<10).map { Float($0) }, featureCount: 1, targets: .classes(labels, classCount: 2))
        var rng = SeededRandom(seed: 1)
        let (train, test) = trainTestSplit(data, testFraction: 0.1, rng: &rng)
        XCTAssertEqual(classHistogram(test.labels ?? [], classCount: 2), [1, 1])
        XCTAssertEqual(classHistogram(train.labels ?? [], classCount: 2), [7, 1])
    }

    func testRegressionSplitTakesRoundedFraction() {
        var rng = SeededRandom(seed: 2)
        let data = Synthetic.linearRegression(count: 33, features: 2, noise: 0, bias: 0, rng: &rng).data
        let (train, test) = trainTestSplit(data, testFraction: 0.25, rng: &rng)
        XCTAssertEqual(test.count, 8)  // round(8.25)
        XCTAssertEqual(train.count, 25)
    }
}
