import FedCore
import XCTest

final class SeededRandomTests: XCTestCase {
    func testSameSeedSameStreamAndDerivedStreamsAreIndependent() {
        var a = SeededRandom(seed: 9)
        var b = SeededRandom(seed: 9)
        var c = SeededRandom(seed: 10)
        let sa = (0..<8).map { _ in a.next() }
        let sb = (0..<8).map { _ in b.next() }
        let sc = (0..<8).map { _ in c.next() }
        XCTAssertEqual(sa, sb)
        XCTAssertNotEqual(sa, sc)
        let root = SeededRandom(seed: 9)
        var d1 = root.derive(1, 2)
        var d1again = root.derive(1, 2)
        var d2 = root.derive(2, 1)
        XCTAssertEqual(d1.next(), d1again.next())
        var d3 = root.derive(1, 2)
        XCTAssertNotEqual(d3.next(), d2.next())
    }

    /// Pinned values: a change of generator would silently change every run's numbers.
    func testStreamIsPinned() {
        var r = SeededRandom(seed: 0)
        XCTAssertEqual(r.next(), 0x99EC_5F36_CB75_F2B4)
    }

    func testUniformNormalAndIntegersLookRight() {
        var r = SeededRandom(seed: 3)
        let n = 100_000
        let normals = (0..<n).map { _ in r.nextNormal() }
        let mean = normals.reduce(0, +) / Double(n)
        let variance = normals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
        XCTAssertEqual(mean, 0, accuracy: 0.02)
        XCTAssertEqual(variance, 1, accuracy: 0.02)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[r.nextInt(below: 7)] += 1 }
        for c in counts { XCTAssertEqual(Double(c), 10_000, accuracy: 500) }
        var items = Array(0..<50)
        r.shuffle(&items)
        XCTAssertEqual(items.sorted(), Array(0..<50))
        XCTAssertNotEqual(items, Array(0..<50))
    }

    func testWeightHashIsStableAndBitSensitive() {
        XCTAssertEqual(WeightHash.hex([]), "cbf29ce484222325")
        let a: [Float] = [1, 2, 3]
        XCTAssertEqual(WeightHash.hex(a), WeightHash.hex([1, 2, 3]))
        XCTAssertNotEqual(WeightHash.hex(a), WeightHash.hex([1, 2, Float(3).nextUp]))
        XCTAssertNotEqual(WeightHash.hex([0]), WeightHash.hex([-0.0]))
    }

    func testLayoutMapsNamesToRanges() {
        let layout = ParameterLayout([("dense.weight", [4, 3]), ("dense.bias", [3])])
        XCTAssertEqual(layout.count, 15)
        XCTAssertEqual(layout["dense.weight"]?.range, 0..<12)
        XCTAssertEqual(layout["dense.bias"]?.range, 12..<15)
        XCTAssertTrue(layout["dense.bias"]!.isBias)
        XCTAssertFalse(layout["dense.weight"]!.isBias)
    }
}
